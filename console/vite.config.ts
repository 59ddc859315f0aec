// Two pages from one build: the console (index.html, served at `/` with history-mode routing)
// and GraphiQL (graphiql.html, served at `GET /graphql`). Every asset is bundled locally, so
// neither page loads anything from the internet.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import vue from '@vitejs/plugin-vue'
import { defineConfig, type Plugin } from 'vite'

// Where `npm run dev` sends API requests: a running `remotegpu` (default `cargo run`).
const server = process.env.REMOTEGPU_SERVER_URL ?? 'http://127.0.0.1:8080'

/** Prints the size of the production bundle (raw and gzip) once the build is written. */
function bundleSize(): Plugin {
  let outDir = 'dist'
  return {
    name: 'remotegpu-bundle-size',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir)
    },
    closeBundle() {
      const files: string[] = []
      const walk = (dir: string) => {
        for (const name of readdirSync(dir)) {
          const path = join(dir, name)
          if (statSync(path).isDirectory()) walk(path)
          else files.push(path)
        }
      }
      walk(outDir)
      let raw = 0
      let gzip = 0
      for (const file of files) {
        const bytes = readFileSync(file)
        raw += bytes.length
        if (/\.(js|css|html|svg|json)$/.test(file)) gzip += gzipSync(bytes).length
        else gzip += bytes.length
      }
      const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`
      console.log(
        `\nproduction bundle: ${files.length} files, ${kib(raw)} (${kib(gzip)} gzip), console and GraphiQL together`,
      )
    },
  }
}

export default defineConfig({
  plugins: [vue(), bundleSize()],
  resolve: { alias: { '@': resolve(__dirname, 'src') } },
  build: {
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      input: {
        console: resolve(__dirname, 'index.html'),
        graphiql: resolve(__dirname, 'graphiql.html'),
      },
      output: {
        manualChunks(id) {
          if (!id.includes('node_modules')) return undefined
          if (/node_modules\/(echarts|zrender|vue-echarts)\//.test(id)) return 'echarts'
          if (/node_modules\/element-plus\//.test(id)) return 'element-plus'
          return undefined
        },
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
