// The signed-in session, kept in localStorage so a reload (and the GraphiQL page) keeps it.
// Only the tokens and a few profile fields are stored; `me` is fetched fresh on start.

export interface SessionUser {
  id: string
  username: string
  email: string
  role: 'ADMIN' | 'CUSTOMER'
}

export interface Session {
  accessToken: string
  /** RFC 3339; the access token stops working then (15 minutes after sign-in). */
  accessTokenExpiresAt: string
  refreshToken: string
  user: SessionUser
}

const KEY = 'remotegpu.session'

export function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(KEY)
    if (!raw) return null
    const s = JSON.parse(raw) as Session
    return s.accessToken && s.refreshToken && s.user ? s : null
  } catch {
    return null
  }
}

export function storeSession(session: Session | null): void {
  if (session) localStorage.setItem(KEY, JSON.stringify(session))
  else localStorage.removeItem(KEY)
}
