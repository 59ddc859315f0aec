// The session's tokens: kept in local storage, sent on every request but anonymous ones, the
// access token refreshed a minute before it expires and, once, when the server answers
// UNAUTHENTICATED; sign in and sign out.
import { ApolloError, ApolloLink, Observable, type FetchResult } from '@apollo/client/core'
import { onError } from '@apollo/client/link/error'
import { reactive } from 'vue'
import { graphql } from '../gql'
import { loadSession, storeSession, type Session } from '../lib/session'
import { apolloClient } from './client'
import { closeSocket } from './ws'

export const auth = reactive<{ session: Session | null }>({ session: loadSession() })

export const authLink = new ApolloLink((operation, forward) => {
  const token = auth.session?.accessToken
  if (token && !operation.getContext().anonymous) {
    operation.setContext(({ headers = {} }: { headers?: Record<string, string> }) => ({
      headers: { ...headers, authorization: `Bearer ${token}` },
    }))
  }
  return forward(operation)
})

export const retryUnauthenticated = onError(({ graphQLErrors, operation, forward }) => {
  const unauthenticated = graphQLErrors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED')
  if (!unauthenticated || !auth.session || operation.getContext().anonymous || operation.getContext().retried) {
    return undefined
  }
  return new Observable<FetchResult>((sink) => {
    refreshSession().then((ok) => {
      if (!ok) {
        sink.error(new ApolloError({ graphQLErrors }))
        return
      }
      operation.setContext({ retried: true })
      forward(operation).subscribe(sink)
    })
  })
})

const REFRESH = graphql(`
  mutation RefreshSession($refreshToken: String!) {
    refreshToken(refreshToken: $refreshToken) {
      accessToken
      accessTokenExpiresAt
      refreshToken
      customer { id username email role }
    }
  }
`)

const LOGOUT = graphql(`
  mutation Logout($refreshToken: String!) {
    logout(refreshToken: $refreshToken)
  }
`)

export interface AuthPayloadLike {
  accessToken: string
  accessTokenExpiresAt: string
  refreshToken: string
  customer: { id: string; username: string; email: string; role: 'ADMIN' | 'CUSTOMER' }
}

let refreshTimer: ReturnType<typeof setTimeout> | undefined
let refreshing: Promise<boolean> | null = null

function scheduleRefresh() {
  if (refreshTimer) clearTimeout(refreshTimer)
  refreshTimer = undefined
  const session = auth.session
  if (!session) return
  const expiresAt = new Date(session.accessTokenExpiresAt).getTime()
  // A minute early, and never later than the token's lifetime allows.
  const delay = Math.max(0, expiresAt - Date.now() - 60_000)
  refreshTimer = setTimeout(() => void refreshSession(), Math.min(delay, 2_147_000_000))
}

function setSession(session: Session | null) {
  const identityChanged = auth.session?.user.id !== session?.user.id
  auth.session = session
  storeSession(session)
  scheduleRefresh()
  // Open subscriptions reconnect with the new credentials.
  if (identityChanged) closeSocket()
}

export function signedIn(payload: AuthPayloadLike) {
  setSession({
    accessToken: payload.accessToken,
    accessTokenExpiresAt: payload.accessTokenExpiresAt,
    refreshToken: payload.refreshToken,
    user: { ...payload.customer },
  })
}

/** Exchanges the refresh token for a new pair; false (and signed out) when it is refused. */
export function refreshSession(): Promise<boolean> {
  if (refreshing) return refreshing
  const session = auth.session
  if (!session) return Promise.resolve(false)
  refreshing = apolloClient
    .mutate({
      mutation: REFRESH,
      variables: { refreshToken: session.refreshToken },
      context: { anonymous: true },
    })
    .then((result) => {
      const payload = result.data?.refreshToken
      if (!payload) throw new Error('no session')
      signedIn(payload)
      return true
    })
    .catch((err: unknown) => {
      // A network failure keeps the session for a later try; a refused token ends it.
      if (err instanceof ApolloError && err.graphQLErrors.length > 0) {
        setSession(null)
        void apolloClient.clearStore()
        return false
      }
      refreshTimer = setTimeout(() => void refreshSession(), 15_000)
      return false
    })
    .finally(() => {
      refreshing = null
    })
  return refreshing
}

export async function signOut() {
  const session = auth.session
  setSession(null)
  await apolloClient.clearStore()
  if (session) {
    await apolloClient
      .mutate({ mutation: LOGOUT, variables: { refreshToken: session.refreshToken }, context: { anonymous: true } })
      .catch(() => undefined)
  }
}

scheduleRefresh()

