// Lists: put a created row into every page of a connection already read, take a deleted one
// out. Connections are kept per argument set; adding at the top of each page is what a person
// expects (pages are small, first <= 100).
import type { ApolloCache, Reference, StoreObject } from '@apollo/client/core'
import type { Modifiers } from '@apollo/client/cache'

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
