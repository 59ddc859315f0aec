// Money arrives as a Decimal string ("12.3400") and is shown as received; nothing here turns
// it into a float. The share of a limit used (for a progress bar) is computed exactly on
// integers, and the limit typed into a form is checked as text and sent as text.

/** "12.34" -> 123400n (units of 0.0001); null when it is not a plain non-negative decimal. */
function units(value: string): bigint | null {
  const m = /^(\d+)(?:\.(\d{0,4})\d*)?$/.exec(value.trim())
  if (!m) return null
  return BigInt(m[1] ?? '0') * 10_000n + BigInt((m[2] ?? '').padEnd(4, '0'))
}

/** A Decimal string with its currency, or — when absent. */
export function formatMoney(value: string | null | undefined, currency?: string | null): string {
  if (value === null || value === undefined || value === '') return '—'
  return currency ? `${value} ${currency}` : value
}

/** Whole percent of `limit` that `spend` is, capped at 100 (a limit of 0 is reached at once). */
export function percentOf(spend: string | null | undefined, limit: string | null | undefined): number {
  if (!spend || !limit) return 0
  const s = units(spend)
  const l = units(limit)
  if (s === null || l === null) return 0
  if (l === 0n) return 100
  const pct = (s * 100n) / l
  return pct > 100n ? 100 : Number(pct)
}

/** A limit as the server takes it: up to 11 digits, at most 4 decimal places, not negative. */
export const LIMIT_PATTERN = /^\d{1,11}(\.\d{1,4})?$/

/** A unit price: up to 999,999.9999 per hour. */
export const PRICE_PATTERN = /^\d{1,6}(\.\d{1,4})?$/
