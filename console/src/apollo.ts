// Apollo Client for the console: HTTP for queries and mutations, graphql-ws on
// `/graphql/ws` for subscriptions (credentials in `connection_init`, as the server expects),
// and the session's tokens: the access token is refreshed a minute before it expires and,
// once, when the server answers UNAUTHENTICATED.
//
// Cache: every object with an `id` is normalized as `__typename:id`, so a mutation that returns
// a row updates every list showing it; objects without an id (history points, events) stay
// embedded in their parent; an account's spend (`AccountSpend`) is keyed by its `account`.
// Connections are kept per argument set; `addToConnections` and `removeFromConnections` put
// created rows into, and take deleted ones out of, every page already read, without a refetch.
import {
  ApolloClient,
  ApolloError,
  ApolloLink,
  HttpLink,
  InMemoryCache,
  Observable,
  type ApolloCache,
  type FetchResult,
  type Reference,
  type StoreObject,
} from '@apollo/client/core'
import type { Modifiers } from '@apollo/client/cache'
import { onError } from '@apollo/client/link/error'
import { getMainDefinition } from '@apollo/client/utilities'
import { createClient, type Client } from 'graphql-ws'
import { print, type GraphQLFormattedError } from 'graphql'
import { reactive } from 'vue'
import { graphql } from './gql'
import { loadSession, storeSession, type Session } from './lib/session'

export const auth = reactive<{ session: Session | null }>({ session: loadSession() })

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`

let ws: Client | null = null
function wsClient(): Client {
  ws ??= createClient({
    url: wsUrl,
    lazy: true,
    connectionParams: () => (auth.session ? { authorization: `Bearer ${auth.session.accessToken}` } : {}),
    retryAttempts: 10,
    shouldRetry: () => true,
  })
  return ws
}

/** Subscriptions over graphql-ws; the socket follows the current session. */
const wsLink = new ApolloLink(
  (operation) =>
    new Observable<FetchResult>((sink) =>
      wsClient().subscribe<FetchResult['data']>(
        { query: print(operation.query), variables: operation.variables, operationName: operation.operationName },
        {
          next: (value) => sink.next(value as FetchResult),
          complete: () => sink.complete(),
          error: (err) => {
            if (Array.isArray(err)) sink.error(new ApolloError({ graphQLErrors: err as GraphQLFormattedError[] }))
            else if (err instanceof Error) sink.error(err)
            else sink.error(new Error(`subscription socket closed (${(err as CloseEvent)?.code ?? 'unknown'})`))
          },
        },
      ),
    ),
)

const authLink = new ApolloLink((operation, forward) => {
  const token = auth.session?.accessToken
  if (token && !operation.getContext().anonymous) {
    operation.setContext(({ headers = {} }: { headers?: Record<string, string> }) => ({
      headers: { ...headers, authorization: `Bearer ${token}` },
    }))
  }
  return forward(operation)
})

const retryUnauthenticated = onError(({ graphQLErrors, operation, forward }) => {
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

const httpLink = new HttpLink({ uri: '/graphql' })

const link = ApolloLink.split(
  ({ query }) => {
    const def = getMainDefinition(query)
    return def.kind === 'OperationDefinition' && def.operation === 'subscription'
  },
  wsLink,
  ApolloLink.from([retryUnauthenticated, authLink, httpLink]),
)

export const cache = new InMemoryCache({
  dataIdFromObject: (object) =>
    object.id !== undefined && object.id !== null ? `${object.__typename}:${String(object.id)}` : false,
  // An account's spend has no id but names its account (`customer:7`, `workspace:3`): keyed so,
  // a `spendUpdates` event or `setSpendLimit` answer updates every view of that account.
  typePolicies: { AccountSpend: { keyFields: ['account'] } },
})

export const apolloClient = new ApolloClient({
  link,
  cache,
  defaultOptions: {
    watchQuery: { fetchPolicy: 'cache-and-network', errorPolicy: 'none' },
  },
})

// ---------------------------------------------------------------------------------------
// Session: sign in, refresh before expiry, sign out.

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
  if (identityChanged && ws) {
    // Open subscriptions reconnect with the new credentials.
    void ws.dispose()
    ws = null
  }
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

// ---------------------------------------------------------------------------------------
// Lists: put a created row into every page of a connection already read, take a deleted one
// out. Pages are small (first <= 100), so adding at the top of each is what a person expects.

/** A row as mutations return it; `__typename` is always there at run time. */
type Row = { __typename?: string; id: string }
const store = (row: Row) => row as unknown as StoreObject

interface ConnectionShape {
  nodes?: readonly Reference[]
  edges?: readonly { node: Reference }[]
  totalCount?: number
}

export function addToConnections(apolloCache: ApolloCache<unknown>, field: string, row: Row) {
  const ref = apolloCache.identify(store(row))
  if (!ref) return
  apolloCache.modify({
    fields: {
      [field](existing: ConnectionShape | undefined, { toReference, readField }) {
        if (!existing || !existing.nodes) return existing
        if (existing.nodes.some((n) => readField('id', n) === row.id)) return existing
        const node = toReference(ref)
        return { ...existing, nodes: [node, ...existing.nodes], totalCount: (existing.totalCount ?? 0) + 1 }
      },
    } as Modifiers,
  })
}

export function removeFromConnections(apolloCache: ApolloCache<unknown>, field: string, row: Row) {
  apolloCache.modify({
    fields: {
      [field](existing: ConnectionShape | undefined, { readField }) {
        if (!existing || !existing.nodes) return existing
        const nodes = existing.nodes.filter((n) => readField('id', n) !== row.id)
        if (nodes.length === existing.nodes.length) return existing
        return { ...existing, nodes, totalCount: Math.max(0, (existing.totalCount ?? 1) - 1) }
      },
    } as Modifiers,
  })
  const id = apolloCache.identify(store(row))
  if (id) apolloCache.evict({ id })
  apolloCache.gc()
}

/** Appends a row to a list field of one cached object (`host.gpus`, `dataset.versions`). */
export function addToList(apolloCache: ApolloCache<unknown>, parent: Row, field: string, row: Row) {
  const parentId = apolloCache.identify(store(parent))
  const ref = apolloCache.identify(store(row))
  if (!parentId || !ref) return
  apolloCache.modify({
    id: parentId,
    fields: {
      [field](existing: readonly Reference[] | undefined, { toReference, readField }) {
        const list = existing ?? []
        if (list.some((n) => readField('id', n) === row.id)) return list
        return [...list, toReference(ref)]
      },
    } as Modifiers,
  })
}

export function removeFromList(apolloCache: ApolloCache<unknown>, parent: Row, field: string, row: Row) {
  const parentId = apolloCache.identify(store(parent))
  if (!parentId) return
  apolloCache.modify({
    id: parentId,
    fields: {
      [field](existing: readonly Reference[] | undefined, { readField }) {
        return (existing ?? []).filter((n) => readField('id', n) !== row.id)
      },
    } as Modifiers,
  })
}
