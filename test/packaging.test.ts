// A backend outside the checkout installs the tarball `npm pack` builds and reads the log
// bridge's streams with `import { openLog } from 'swallow/log'` (README "Log bridge").
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startBroker } from './helpers/broker.js'
import { connect } from './helpers/mqtt.js'
import { run, tempDir } from './helpers/system.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')

// npm run by `npm test` exports npm_config_* variables (prefix, cache, ...) that would steer
// the inner npm; the backend's npm must see what a user's would.
function plainEnv (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && !k.startsWith('SWALLOW_')))
}

const READER = `import { openLog } from 'swallow/log'
const log = openLog(process.argv[2])
const out = []
for await (const r of log.stream('telemetry').records({ from: 'earliest' })) out.push([r.offset, r.topic, r.payload.toString()])
await log.close()
console.log(JSON.stringify(out))
`

const TYPED = `import { openLog, type LogRecord } from 'swallow/log'
const first = async (dir: string): Promise<LogRecord | undefined> => {
  for await (const r of openLog(dir).stream('telemetry').records({ from: 'earliest' })) return r
  return undefined
}
export const topic = async (dir: string): Promise<string | undefined> => (await first(dir))?.topic
`

test('npm pack: a backend installs the tarball and reads a stream the broker wrote with openLog from swallow/log', { timeout: 180_000 }, async () => {
  const packDir = tempDir()
  const project = tempDir('swallow-backend-')
  const broker = await startBroker({ storage: 'memory', args: ['--bridge-rule', 'sensors/#=telemetry:durable', '--ws-port', 'off', '--http-port', 'off'] })
  try {
    // `npm test` has just built dist/; the tarball takes it as it is (prepare would rebuild it).
    const packed = await run('sh', ['-c', `cd '${ROOT}' && npm pack --ignore-scripts --json --pack-destination '${packDir.path}'`], 60_000, plainEnv())
    assert.equal(packed.code, 0, packed.stderr)
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string, size: number, files: Array<{ path: string }> }>
    const files = info.files.map(f => f.path)
    for (const f of ['bin/swallow.js', 'dist/src/cli.js', 'dist/plugins/bridge/log/index.js', 'dist/plugins/bridge/log/index.d.ts', 'dist/src/protocol/types.d.ts', 'dist/web/index.html']) {
      assert.ok(files.includes(f), `the tarball holds ${f}`)
    }
    assert.deepEqual(files.filter(f => /^(test|bench|src|plugins|devices)\/|^dist\/(test|bench)\/|\.map$|(?<!\.d)\.ts$/.test(f)), [], 'no sources, tests, benchmarks or source maps')
    assert.ok(info.size < 1024 * 1024, `the tarball is ${info.size} bytes`)

    const c = await connect(broker.mqttUrl)
    await c.publishAsync('sensors/t1', '21.5', { qos: 1 })
    await c.publishAsync('sensors/t2', '22.0', { qos: 1 })
    await c.endAsync()

    writeFileSync(join(project.path, 'package.json'), JSON.stringify({ name: 'backend', private: true, type: 'module' }))
    const started = Date.now()
    const installed = await run('sh', ['-c', `cd '${project.path}' && npm install '${join(packDir.path, info.filename)}' --prefer-offline --no-audit --no-fund`], 150_000, plainEnv())
    assert.equal(installed.code, 0, installed.stderr)
    process.stderr.write(`npm install of the tarball took ${Date.now() - started} ms\n`)

    writeFileSync(join(project.path, 'reader.mjs'), READER)
    const read = await run('sh', ['-c', `cd '${project.path}' && node reader.mjs '${broker.dataDir}'`], 30_000, plainEnv())
    assert.equal(read.code, 0, read.stderr)
    assert.deepEqual(JSON.parse(read.stdout), [[0, 'sensors/t1', '21.5'], [1, 'sensors/t2', '22.0']])

    // The types come along: a TypeScript backend compiles against them (NodeNext resolution reads "exports").
    writeFileSync(join(project.path, 'typed.ts'), TYPED)
    const tsc = await run('sh', ['-c', `cd '${project.path}' && node '${TSC}' --noEmit --strict --module nodenext --moduleResolution nodenext --target es2022 --types node --typeRoots '${join(ROOT, 'node_modules/@types')}' typed.ts`], 60_000, plainEnv())
    assert.equal(tsc.code, 0, tsc.stdout + tsc.stderr)

    // The command comes along too: the installed package runs the broker's CLI.
    const version = await run('sh', ['-c', `cd '${project.path}' && ./node_modules/.bin/swallow --version`], 30_000, plainEnv())
    assert.match(version.stdout, /^swallow \d+\.\d+\.\d+\n$/, version.stderr)
  } finally {
    await broker.stop()
    packDir.remove()
    project.remove()
  }
})
