// Server errors for forms: every GraphQL error carries `extensions.code` (BAD_USER_INPUT,
// CONFLICT, ...) and input errors start with the field they are about (`ipAddress: '...'
// is not an IP address`). `fieldErrors` turns them into messages beside the form's fields.
import { ApolloError } from '@apollo/client/core'
import type { GraphQLFormattedError } from 'graphql'

export interface ServerError {
  code: string
  message: string
  field: string | null
  /** `extensions.reason` where the server gives one (FORBIDDEN with QUOTA). */
  reason?: string
}

export function serverErrors(err: unknown): ServerError[] {
  let list: readonly GraphQLFormattedError[] = []
  if (err instanceof ApolloError) {
    list = err.graphQLErrors
    if (list.length === 0) {
      return [{ code: 'NETWORK', message: err.networkError?.message ?? err.message, field: null }]
    }
  } else if (err instanceof Error) {
    return [{ code: 'INTERNAL', message: err.message, field: null }]
  }
  return list.map((e) => {
    const ext = e.extensions as Record<string, unknown> | undefined
    const code = String(ext?.code ?? 'INTERNAL')
    const reason = typeof ext?.reason === 'string' ? { reason: ext.reason } : {}
    const m = /^([A-Za-z][A-Za-z0-9_.]*):\s*(.*)$/s.exec(e.message)
    return m ? { code, message: m[2] ?? e.message, field: m[1] ?? null, ...reason } : { code, message: e.message, field: null, ...reason }
  })
}

/**
 * Splits server errors into those of known fields and the rest. `conflictField` names the
 * field a CONFLICT is about when the message does not (a unique name, say).
 */
export function fieldErrors(
  err: unknown,
  fields: readonly string[],
  conflictField?: string,
): { byField: Record<string, string>; general: string[] } {
  const byField: Record<string, string> = {}
  const general: string[] = []
  for (const e of serverErrors(err)) {
    const field = e.field?.split('.').pop() ?? null
    const text = `${e.message} (${e.code}${e.reason ? `, ${e.reason}` : ''})`
    if (field && fields.includes(field)) byField[field] = text
    else if (e.code === 'CONFLICT' && conflictField) byField[conflictField] = text
    else general.push(text)
  }
  return { byField, general }
}

export function errorText(err: unknown): string {
  return serverErrors(err)
    .map((e) => `${e.field ? `${e.field}: ` : ''}${e.message} (${e.code})`)
    .join('; ')
}
