// Two pages from one build: the console (index.html, served at `/` with history-mode routing)
// and GraphiQL (graphiql.html, served at `GET /graphql`). Every asset is bundled locally, so
// neither page loads anything from the internet.
import { resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import vue from '@vitejs/plugin-vue'
import { defineConfig, type Plugin } from 'vite'

// Where `npm run dev` sends API requests: a running `remotegpu` (default `cargo run`).
const server = process.env.REMOTEGPU_SERVER_URL ?? 'http://127.0.0.1:8080'

/**
 * Prints the size of the production bundle once it is written: each page with everything it
 * loads (its chunks, lazy pages and CSS), and the whole output, raw and gzip.
 */
function bundleSize(): Plugin {
  const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`
  return {
    name: 'remotegpu-bundle-size',
    apply: 'build',
    writeBundle(_options, bundle) {
      const size = (name: string) => {
        const item = bundle[name]
        if (!item) return [0, 0]
        const bytes = Buffer.from(item.type === 'chunk' ? item.code : item.source)
        return [bytes.length, gzipSync(bytes).length]
      }
      const reach = (entry: string, seen: Set<string>) => {
        if (seen.has(entry)) return
        seen.add(entry)
        const item = bundle[entry]
        if (item?.type !== 'chunk') return
        for (const next of [...item.imports, ...item.dynamicImports]) reach(next, seen)
        for (const css of item.viteMetadata?.importedCss ?? []) seen.add(css)
      }
      const lines: string[] = []
      for (const [name, item] of Object.entries(bundle)) {
        if (item.type !== 'chunk' || !item.isEntry) continue
        const files = new Set<string>()
        reach(name, files)
        let raw = 0
        let gz = 0
        for (const f of files) {
          const [r, g] = size(f)
          raw += r
          gz += g
        }
        lines.push(`  ${item.name.padEnd(9)} ${kib(raw).padStart(9)} (${kib(gz)} gzip), ${files.size} files`)
      }
      let raw = 0
      let gz = 0
      for (const name of Object.keys(bundle)) {
        const [r, g] = size(name)
        raw += r
        gz += g
      }
      console.log(`\nproduction bundle: ${kib(raw)} (${kib(gz)} gzip) in ${Object.keys(bundle).length} files`)
      for (const line of lines.sort()) console.log(line)
    },
  }
}

export default defineConfig({
  plugins: [vue(), bundleSize()],
  resolve: { alias: { '@': resolve(__dirname, 'src') } },
  build: {
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      onwarn(warning, warn) {
        // GraphiQL's React dependencies mark themselves "use client"; meaningless here.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return
        warn(warning)
      },
      input: {
        console: resolve(__dirname, 'index.html'),
        graphiql: resolve(__dirname, 'graphiql.html'),
      },
    },
  },
  server: {
    port: 5173,
    proxy: {
      '/graphql': {
        target: server,
        ws: true,
        // The browser opening /graphql gets this dev server's GraphiQL page.
        bypass(req) {
          if (req.method === 'GET' && req.url === '/graphql' && req.headers.accept?.includes('text/html')) {
            return '/graphiql.html'
          }
          return undefined
        },
      },
      '/healthz': server,
      '/readyz': server,
      '/metrics': server,
    },
  },
})
