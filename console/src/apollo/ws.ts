// Subscriptions over graphql-ws on `/graphql/ws`: the credentials go in `connection_init`, as
// the server expects, and the socket follows the session (closed when the signed-in person
// changes, so open subscriptions reconnect with the new credentials).
import { ApolloError, ApolloLink, Observable, type FetchResult } from '@apollo/client/core'
import { createClient, type Client } from 'graphql-ws'
import { print, type GraphQLFormattedError } from 'graphql'
import { auth } from './auth'

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
export const wsLink = new ApolloLink(
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

/** Closes the socket; the next subscription opens a new one. */
export function closeSocket() {
  if (!ws) return
  void ws.dispose()
  ws = null
}
