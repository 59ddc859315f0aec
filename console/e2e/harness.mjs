// Starts what the browser tests need: the real `remotegpu` server on a fresh SQLite data
// directory and a free port, the real `remotegpu-agent` with its fake collector, and
// headless Chromium (Debian's) through playwright-core, with every request that does not go
// to 127.0.0.1 blocked and recorded.
import { spawn } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { chromium } from 'playwright-core'

export const repo = resolve(import.meta.dirname, '../..')
const binDir = process.env.REMOTEGPU_BIN_DIR ?? join(process.env.CARGO_TARGET_DIR ?? join(repo, 'target'), 'debug')
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const screenshots = resolve(process.env.REMOTEGPU_E2E_SCREENSHOTS ?? join(import.meta.dirname, 'screenshots'))

// Whatever ends this process (a failure, a closed pipe), the server and agent end with it.
const children = new Set()
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
})
function track(child) {
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}

export const ADMIN = { username: 'ops', email: 'ops@example.com', password: 'e2e-operator-password' }

/** Polls `check` until it returns a truthy value (observable state, never a fixed sleep). */
export async function until(check, { timeout = 20_000, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout
  let last
  for (;;) {
    try {
      last = await check()
      if (last) return last
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last})`)
    await new Promise((r) => setTimeout(r, interval))
  }
}

export async function startServer() {
  const data = mkdtempSync(join(tmpdir(), 'remotegpu-e2e-'))
  const logs = []
  const child = track(spawn(join(binDir, 'remotegpu'), [], {
    cwd: data,
    env: {
      ...process.env,
      REMOTEGPU_SERVER__HOST: '127.0.0.1',
      REMOTEGPU_SERVER__PORT: '0',
      REMOTEGPU_DATA_DIR: data,
      REMOTEGPU_DATABASE__URL: `sqlite://${join(data, 'remotegpu.db')}?mode=rwc`,
      REMOTEGPU_CONSOLE__DIR: join(repo, 'console', 'dist'),
      REMOTEGPU_AUTH__JWT_SECRET: randomBytes(32).toString('hex'),
      REMOTEGPU_AUTH__BOOTSTRAP_ADMIN__USERNAME: ADMIN.username,
      REMOTEGPU_AUTH__BOOTSTRAP_ADMIN__EMAIL: ADMIN.email,
      REMOTEGPU_AUTH__BOOTSTRAP_ADMIN__PASSWORD: ADMIN.password,
      REMOTEGPU_AGENTS__OFFLINE_AFTER_SECS: '30',
      // A billing pass every second: spend is published (and limits checked) at once.
      REMOTEGPU_JOBS__BILLING_INTERVAL_SECS: '1',
      REMOTEGPU_LOG__FORMAT: 'json',
      REMOTEGPU_LOG__FILTER: 'info,sqlx=warn,sea_orm=warn,tower_http=warn',
      // The tests drive the API harder than a person; keep rate limits out of the way.
      REMOTEGPU_LIMITS__RATE_PER_SECOND: '1000',
      REMOTEGPU_LIMITS__RATE_BURST: '5000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  }))
  const port = await new Promise((resolvePort, reject) => {
    const onLine = (line) => {
      logs.push(line)
      const m = /"port":\s*(\d+)/.exec(line)
      if (m && line.includes('listening')) resolvePort(Number(m[1]))
    }
    createInterface({ input: child.stdout }).on('line', onLine)
    createInterface({ input: child.stderr }).on('line', onLine)
    child.on('exit', (code) => reject(new Error(`server exited (${code}):\n${logs.join('\n')}`)))
    setTimeout(() => reject(new Error(`server did not report its port:\n${logs.join('\n')}`)), 60_000)
  })
  return {
    url: `http://127.0.0.1:${port}`,
    logs,
    async stop() {
      child.kill('SIGTERM')
      await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)))
      rmSync(data, { recursive: true, force: true })
    },
  }
}

export function startAgent(serverUrl, token) {
  const data = mkdtempSync(join(tmpdir(), 'remotegpu-e2e-agent-'))
  const logs = []
  const child = track(spawn(
    join(binDir, 'remotegpu-agent'),
    ['--server-url', serverUrl, '--collector', 'fake', '--fake-gpus', join(repo, 'agent/examples/fake-gpus.json'), '--interval', '1', '--data-dir', data],
    {
      // A Docker socket that does not exist: the tests never make containers on this machine,
      // and an environment's order fails the same way everywhere.
      env: { ...process.env, REMOTEGPU_AGENT_TOKEN: token, REMOTEGPU_AGENT_DOCKER_SOCKET: join(data, 'no-docker.sock'), RUST_LOG: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  ))
  createInterface({ input: child.stdout }).on('line', (l) => logs.push(l))
  createInterface({ input: child.stderr }).on('line', (l) => logs.push(l))
  return {
    logs,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await new Promise((r) => child.on('exit', r))
      }
      rmSync(data, { recursive: true, force: true })
    },
  }
}

/** One GraphQL request to the server (test set-up through the API); throws on errors. */
export async function api(serverUrl, query, variables = {}, token = null) {
  const res = await fetch(`${serverUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  })
  const body = await res.json()
  if (body.errors?.length) throw new Error(`API: ${JSON.stringify(body.errors)}`)
  return body.data
}

/** Chromium with the network cut off: only 127.0.0.1 is reachable; anything else is recorded. */
export async function startBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'remotegpu-e2e-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
    viewport: { width: 1440, height: 900 },
    locale: 'zh-CN',
  })
  const blocked = []
  const failed = []
  const loopback = (url) => {
    try {
      const u = new URL(url)
      return u.protocol === 'data:' || u.protocol === 'blob:' || u.hostname === '127.0.0.1'
    } catch {
      return false
    }
  }
  await context.route('**/*', (route) => {
    const url = route.request().url()
    if (loopback(url)) return route.continue()
    blocked.push(url)
    return route.abort('blockedbyclient')
  })
  const watch = (page) => {
    page.on('websocket', (ws) => {
      if (!loopback(ws.url().replace(/^ws/, 'http'))) blocked.push(ws.url())
    })
    page.on('requestfailed', (req) => {
      const reason = req.failure()?.errorText ?? ''
      // Navigations away from a page abort its pending requests; that is not a failure.
      if (!reason.includes('ERR_ABORTED')) failed.push(`${req.url()} (${reason})`)
    })
  }
  context.on('page', watch)
  context.pages().forEach(watch)
  mkdirSync(screenshots, { recursive: true })
  return {
    context,
    blocked,
    failed,
    async newPage() {
      const page = await context.newPage()
      return page
    },
    async stop() {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** A screenshot of the whole page; the console scrolls inside its main pane, so it is grown first. */
export async function shot(page, name) {
  const size = page.viewportSize()
  const height = await page.evaluate(() => {
    const main = document.querySelector('.el-main')
    return main ? main.scrollHeight + main.getBoundingClientRect().top : document.documentElement.scrollHeight
  })
  if (size && height > size.height) await page.setViewportSize({ width: size.width, height: Math.min(height, 4000) })
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true })
  if (size && height > size.height) await page.setViewportSize(size)
}
