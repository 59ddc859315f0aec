// Apollo Client for the console: HTTP for queries and mutations (with the session's token,
// see ./auth), graphql-ws for subscriptions (see ./ws).
//
// Cache: every object with an `id` is normalized as `__typename:id`, so a mutation that returns
// a row updates every list showing it; objects without an id (history points, events) stay
// embedded in their parent; an account's spend (`AccountSpend`) is keyed by its `account`.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client/core'
import { getMainDefinition } from '@apollo/client/utilities'
import { authLink, retryUnauthenticated } from './auth'
import { wsLink } from './ws'

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
