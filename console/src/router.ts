// Routes (history mode: the server answers every non-API path with index.html). A page is one
// entry here: `meta.nav` puts it in the side menu (label key under `nav.`), `meta.roles`
// limits it (operators see everything), `meta.public` opens it without signing in.
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { auth } from './apollo'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    nav?: string
    icon?: string
    roles?: ('ADMIN' | 'CUSTOMER')[]
  }
}

export const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('./pages/LoginPage.vue'), meta: { public: true } },
  { path: '/register', name: 'register', component: () => import('./pages/RegisterPage.vue'), meta: { public: true } },
  { path: '/', name: 'overview', component: () => import('./pages/OverviewPage.vue'), meta: { nav: 'overview', icon: 'Odometer' } },
  {
    path: '/fleet',
    name: 'fleet',
    component: () => import('./pages/FleetPage.vue'),
    meta: { nav: 'fleet', icon: 'Monitor', roles: ['ADMIN'] },
  },
  { path: '/hosts/:id', name: 'host', component: () => import('./pages/HostPage.vue'), meta: { roles: ['ADMIN'] } },
  {
    path: '/commands',
    name: 'commands',
    component: () => import('./pages/CommandsPage.vue'),
    meta: { nav: 'commands', icon: 'Operation', roles: ['ADMIN'] },
  },
  {
    path: '/environments',
    name: 'environments',
    component: () => import('./pages/EnvironmentsPage.vue'),
    meta: { nav: 'environments', icon: 'Platform' },
  },
  { path: '/datasets', name: 'datasets', component: () => import('./pages/DatasetsPage.vue'), meta: { nav: 'datasets', icon: 'Files' } },
  { path: '/models', name: 'models', component: () => import('./pages/ModelsPage.vue'), meta: { nav: 'models', icon: 'Cpu' } },
  { path: '/images', name: 'images', component: () => import('./pages/ImagesPage.vue'), meta: { nav: 'images', icon: 'Box' } },
  {
    path: '/system-configs',
    name: 'systemConfigs',
    component: () => import('./pages/SystemConfigsPage.vue'),
    meta: { nav: 'systemConfigs', icon: 'Setting', roles: ['ADMIN'] },
  },
  { path: '/billing', name: 'billing', component: () => import('./pages/BillingPage.vue'), meta: { nav: 'billing', icon: 'Wallet' } },
  { path: '/account', name: 'account', component: () => import('./pages/AccountPage.vue'), meta: { nav: 'account', icon: 'User' } },
  { path: '/workspaces/:id', name: 'workspace', component: () => import('./pages/WorkspacePage.vue') },
  { path: '/:pathMatch(.*)*', name: 'notFound', component: () => import('./pages/NotFoundPage.vue') },
]

export const router = createRouter({ history: createWebHistory(), routes })

export function allowed(roles: RouteMeta['roles']): boolean {
  const role = auth.session?.user.role
  if (!role) return false
  return role === 'ADMIN' || !roles || roles.includes(role)
}

type RouteMeta = import('vue-router').RouteMeta

router.beforeEach((to) => {
  if (to.meta.public) return auth.session ? { name: 'overview' } : true
  if (!auth.session) return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
  if (!allowed(to.meta.roles)) return { name: 'overview' }
  return true
})
