// Live updates into the Apollo cache: a host status event changes the cached host, a GPU
// sample becomes its GPU's `latestMetric`. Every view reading those rows re-renders; nothing
// polls.
import type { ApolloCache } from '@apollo/client/core'

export function applyHostStatus(
  cache: ApolloCache<unknown>,
  event: { hostId: string; status: string },
): boolean {
  const id = cache.identify({ __typename: 'Host', id: event.hostId })
  if (!id) return false
  return cache.modify({
    id,
    fields: {
      status: () => event.status,
      healthStatus: (existing: string | null) => (event.status === 'ONLINE' ? 'HEALTHY' : event.status === 'OFFLINE' ? 'UNKNOWN' : existing),
    },
  })
}

/** True when the sample's GPU is in the cache (false: the host's GPU list needs a refetch). */
export function applyGpuSample(cache: ApolloCache<unknown>, sample: { id: string; gpuId: string }): boolean {
  const gpu = cache.identify({ __typename: 'Gpu', id: sample.gpuId })
  const metric = cache.identify({ __typename: 'GpuMetric', id: sample.id })
  if (!gpu || !metric) return false
  return cache.modify({
    id: gpu,
    fields: { latestMetric: (_existing, { toReference }) => toReference(metric) },
  })
}

/** An environment's status event into its cached row; false when the row is not cached. */
export function applyEnvironmentStatus(
  cache: ApolloCache<unknown>,
  event: { environmentId: string; status: string; reason?: string | null },
): boolean {
  const id = cache.identify({ __typename: 'Environment', id: event.environmentId })
  if (!id) return false
  return cache.modify({
    id,
    fields: {
      status: () => event.status,
      failureReason: (existing: string | null) => (event.status === 'FAILED' ? event.reason ?? existing : existing),
    },
  })
}
