// GraphiQL from local assets (no CDN), speaking to this server: queries and mutations over
// `POST /graphql`, subscriptions over graphql-ws on `/graphql/ws`. The Authorization header
// typed in the Headers tab is used for both (for WebSockets it goes into connection_init);
// a console sign-in in the same browser pre-fills it.
import { GraphiQL } from 'graphiql'
import type { Fetcher, FetcherParams, FetcherOpts } from '@graphiql/toolkit'
import { createClient, type Client } from 'graphql-ws'
import { createElement } from 'react'
import { createRoot } from 'react-dom/client'
import 'graphiql/style.css'
import { loadSession } from '../lib/session'

const httpUrl = `${location.origin}/graphql`
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`

let ws: { client: Client; authorization: string | undefined } | undefined

function wsClient(authorization: string | undefined): Client {
  if (ws && ws.authorization === authorization) return ws.client
  ws?.client.dispose()
  const client = createClient({
    url: wsUrl,
    lazy: true,
    connectionParams: authorization ? { authorization } : {},
  })
  ws = { client, authorization }
  return client
}

function authorizationOf(headers: Record<string, unknown> | undefined): string | undefined {
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === 'authorization' && typeof value === 'string') return value
  }
  return undefined
}

const fetcher: Fetcher = (params: FetcherParams, opts?: FetcherOpts) => {
  const headers = (opts?.headers ?? {}) as Record<string, string>
  const isSubscription = /^\s*subscription\b/m.test(params.query) && !/^\s*(query|mutation)\b/m.test(params.query)
  if (isSubscription) {
    return wsClient(authorizationOf(headers)).iterate({
      query: params.query,
      variables: params.variables ?? undefined,
      operationName: params.operationName ?? undefined,
    }) as ReturnType<Fetcher>
  }
  return fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify(params),
  }).then((response) => response.json())
}

const session = loadSession()
const defaultHeaders = session
  ? JSON.stringify({ Authorization: `Bearer ${session.accessToken}` }, null, 2)
  : JSON.stringify({ Authorization: 'Bearer <accessToken from login>' }, null, 2)

const defaultQuery = `# RemoteGPU GraphQL API. Sign in first, then set the Authorization header:
#
# mutation { login(login: "ops", password: "...") { accessToken } }

query Fleet {
  hosts(first: 10) {
    totalCount
    nodes { id name status ipAddress gpus { gpuIndex name latestMetric { utilizationPercent temperature } } }
  }
}
`

const root = document.getElementById('graphiql')
if (root) {
  createRoot(root).render(
    createElement(GraphiQL, { fetcher, defaultQuery, defaultHeaders, shouldPersistHeaders: true }),
  )
}
