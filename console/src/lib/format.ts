// Display helpers: byte counts arrive as BigInt strings and are shown in GB (seed 000:
// `${(value / 1024 / 1024 / 1024).toFixed(0)} GB`).

const GIB = 1024 * 1024 * 1024

export function bytesToGb(value: string | number | null | undefined): number | null {
  if (value === null || value === undefined || value === '') return null
  const n = typeof value === 'number' ? value : Number(value)
  return Number.isFinite(n) ? n / GIB : null
}

export function formatGb(value: string | number | null | undefined, digits = 0): string {
  const gb = bytesToGb(value)
  return gb === null ? '—' : `${gb.toFixed(digits)} GB`
}

/** GB typed into a form -> a BigInt string of bytes. */
export function gbToBytes(gb: number): string {
  return BigInt(Math.round(gb * GIB)).toString()
}

export function formatTime(value: string | null | undefined): string {
  if (!value) return '—'
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? value : d.toLocaleString()
}

/** An hour as the server keeps it, in UTC: `2026-05-03T14:00:00Z` -> `2026-05-03 14:00 UTC`. */
export function formatUtcHour(value: string | null | undefined): string {
  if (!value) return '—'
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? value : `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 16)} UTC`
}

/** An invoice's period, `[start, end)` in UTC, as its first and last day: `2026-05-01 – 2026-05-31`. */
export function formatPeriod(start: string | null | undefined, end: string | null | undefined): string {
  const a = start ? new Date(start) : null
  const b = end ? new Date(new Date(end).getTime() - 1000) : null
  if (!a || !b || Number.isNaN(a.getTime()) || Number.isNaN(b.getTime())) return '—'
  return `${a.toISOString().slice(0, 10)} – ${b.toISOString().slice(0, 10)}`
}

export function percent(used: number | null | undefined, total: number | null | undefined): number {
  if (!used || !total) return 0
  return Math.min(100, Math.round((used / total) * 100))
}

/** `{"zone": "a"}` -> ["zone=a"]. */
export function labelPairs(labels: unknown): string[] {
  if (!labels || typeof labels !== 'object' || Array.isArray(labels)) return []
  return Object.entries(labels as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`)
}

/** "zone=a, region=us-west" -> {zone: "a", region: "us-west"}; null when malformed. */
export function parseLabels(text: string): Record<string, string> | null {
  const out: Record<string, string> = {}
  for (const part of text.split(/[,\n]/)) {
    const item = part.trim()
    if (!item) continue
    const eq = item.indexOf('=')
    if (eq <= 0) return null
    out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim()
  }
  return out
}
