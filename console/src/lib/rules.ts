// Element Plus form rules from seed 000's form configurations (required fields, `type: 'ip'`,
// `type: 'email'`), with messages in the current language.
import type { FormItemRule } from 'element-plus'
import { i18n } from '../i18n'

const t = (key: string, values?: Record<string, unknown>) => i18n.global.t(key, values ?? {})

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

/** IPv4 in dotted decimal or any IPv6 form the server accepts (it parses with std's IpAddr). */
export function isIpAddress(value: string): boolean {
  const v = value.trim()
  if (IPV4.test(v)) return true
  if (!v.includes(':') || !/^[0-9a-fA-F:.]+$/.test(v)) return false
  const parts = v.split('::')
  if (parts.length > 2) return false
  const groups = (s: string) => (s === '' ? [] : s.split(':'))
  const head = groups(parts[0] ?? '')
  const tail = parts.length === 2 ? groups(parts[1] ?? '') : []
  const all = [...head, ...tail]
  const last = all[all.length - 1]
  let count = all.length
  if (last !== undefined && last.includes('.')) {
    if (!IPV4.test(last)) return false
    all.pop()
    count += 1
  }
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false
  return parts.length === 2 ? count < 8 : count === 8
}

export function required(label: string, trigger: 'blur' | 'change' = 'blur'): FormItemRule {
  return { required: true, message: t('rules.required', { field: label }), trigger }
}

export function ipRule(): FormItemRule {
  return {
    trigger: 'blur',
    validator: (_rule, value: string, callback) => {
      if (!value || isIpAddress(value)) callback()
      else callback(new Error(t('rules.ip')))
    },
  }
}

export function emailRule(): FormItemRule {
  return { type: 'email', message: t('rules.email'), trigger: 'blur' }
}

export function lengthRule(min: number, max: number): FormItemRule {
  return { min, max, message: t('rules.length', { min, max }), trigger: 'blur' }
}
