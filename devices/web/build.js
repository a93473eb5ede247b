// Builds the browser client and the operator dashboard: bundles devices/web/app/ (with
// MQTT.js) and devices/web/dashboard/ into dist/web/ with esbuild, names assets by content
// hash, writes index.html and dashboard.html pointing at them, and gzips each file next to it. Run from anywhere: `node devices/web/build.js`.
//
// Every file is written to a temporary name and renamed into place, index.html last,
// and files of earlier builds are removed afterwards: a broker serving dist/web/ while
// it is rebuilt never sees a missing or half-written file.
import { build } from 'esbuild'
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const appDir = join(here, 'app')
// Each page: its entry script and HTML template, and the HTML file it becomes in dist/web/.
const PAGES = [
  { entry: join(appDir, 'main.js'), template: join(appDir, 'index.html'), html: 'index.html' },
  { entry: join(here, 'dashboard', 'main.js'), template: join(here, 'dashboard', 'index.html'), html: 'dashboard.html' }
]
const outDir = join(root, 'dist', 'web')
const assetsDir = join(outDir, 'assets')

async function main () {
  const started = Date.now()
  await mkdir(assetsDir, { recursive: true })

  const result = await build({
    entryPoints: Object.fromEntries(PAGES.map(p => [basename(p.html, '.html') === 'index' ? 'main' : 'dashboard', p.entry])),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022', // MQTT.js itself uses class private fields
    minify: true,
    sourcemap: 'linked',
    entryNames: '[name]-[hash]',
    outdir: assetsDir,
    legalComments: 'linked',
    write: false,
    metafile: true,
    logLevel: 'warning'
  })

  const files = new Map(result.outputFiles.map(f => [f.path, Buffer.from(f.contents)]))
  const pages = []
  for (const page of PAGES) {
    const [output, meta] = Object.entries(result.metafile.outputs).find(([, m]) => m.entryPoint !== undefined && join(root, m.entryPoint) === page.entry) ?? []
    if (!output || !meta.cssBundle) throw new Error(`esbuild produced no .js/.css bundle for ${relative(root, page.entry)}`)
    const template = await readFile(page.template, 'utf8')
    const html = template.replace('%APP_JS%', `/assets/${basename(output)}`).replace('%APP_CSS%', `/assets/${basename(meta.cssBundle)}`)
    if (html.includes('%APP_')) throw new Error(`${basename(page.template)} still has an unreplaced %APP_...% placeholder`)
    pages.push({ name: page.html, html })
  }

  let pageBytes = 0
  let pageGzipped = 0
  const keep = new Set()
  const put = async (path, body) => {
    const gz = gzipSync(body, { level: 9 })
    await writeAtomically(path, body)
    keep.add(basename(path))
    if (gz.length < body.length) {
      await writeAtomically(path + '.gz', gz)
      keep.add(basename(path) + '.gz')
    }
    if (!path.endsWith('.map') && !path.endsWith('.txt')) {
      pageBytes += body.length
      pageGzipped += Math.min(gz.length, body.length)
    }
  }
  for (const [path, body] of files) await put(path, body)
  for (const page of pages) await put(join(outDir, page.name), Buffer.from(page.html))

  for (const name of await readdir(assetsDir)) {
    if (!keep.has(name) && !name.endsWith('.tmp')) await rm(join(assetsDir, name), { force: true })
  }
  const kib = n => `${(n / 1024).toFixed(0)} KiB`
  console.log(`browser client and dashboard built in ${Date.now() - started} ms into ${relative(process.cwd(), outDir) || '.'}/: ` +
    `${kib(pageBytes)} to load (${kib(pageGzipped)} gzipped), plus source maps`)
}

async function writeAtomically (path, body) {
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, body)
  await rename(temporary, path)
}

main().catch(err => {
  console.error(`devices/web/build.js: ${err.message}`)
  process.exit(1)
})
