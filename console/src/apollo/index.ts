// The console's GraphQL client and what goes with it, one job a file: the client and its
// cache (./client), the session and its tokens (./auth), the subscription socket (./ws), and
// keeping cached lists current after a mutation (./lists).
export { apolloClient, cache } from './client'
export { auth, refreshSession, signedIn, signOut, type AuthPayloadLike } from './auth'
export { addToConnections, addToList, removeFromConnections, removeFromList } from './lists'
