// Paging through a Relay connection a page at a time: `cursors` holds the cursor each page
// after the first starts after, so Previous goes back exactly (cursors are not offsets).
import { computed, ref } from 'vue'

export interface PageInfoLike {
  hasNextPage: boolean
  endCursor?: string | null
}

export function useCursorPages(size: number) {
  const cursors = ref<string[]>([])
  /** The `after` of the page showing. */
  const after = computed(() => cursors.value[cursors.value.length - 1] ?? null)
  /** The position of the page's first row, from 1. */
  const from = computed(() => cursors.value.length * size + 1)
  function next(pageInfo: PageInfoLike | null | undefined) {
    if (pageInfo?.hasNextPage && pageInfo.endCursor) cursors.value = [...cursors.value, pageInfo.endCursor]
  }
  function previous() {
    cursors.value = cursors.value.slice(0, -1)
  }
  function first() {
    if (cursors.value.length) cursors.value = []
  }
  return { cursors, after, from, next, previous, first }
}
