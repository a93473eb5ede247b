// src/quiet-debug.ts: `debug` loggers that are off at start are plain no-ops (mqtt-packet's
// per-packet debug calls cost ~20% of fan-in throughput); DEBUG=... still turns them on.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { run } from '../helpers/system.js'

const quietDebug = fileURLToPath(new URL('../../src/quiet-debug.js', import.meta.url))
const probe = `await import(${JSON.stringify(quietDebug)});
const { createRequire } = await import('node:module');
const require = createRequire(${JSON.stringify(fileURLToPath(new URL('../../../node_modules/mqtt-packet/parser.js', import.meta.url)))});
const d = require('debug')('mqtt-packet:parser');
d('hello %s', 'world');
console.log(JSON.stringify({ enabled: d.enabled, noop: d.toString().length < 20 }))`

test('loggers that are off become no-ops; DEBUG still enables them', async () => {
  const env = { ...process.env }
  delete env.DEBUG
  const off = await run(process.execPath, ['--input-type=module', '-e', probe], 10_000, env)
  assert.deepEqual(JSON.parse(off.stdout), { enabled: false, noop: true })
  const on = await run(process.execPath, ['--input-type=module', '-e', probe], 10_000, { ...env, DEBUG: 'mqtt-packet:*' })
  assert.deepEqual(JSON.parse(on.stdout), { enabled: true, noop: false })
  assert.match(on.stderr, /mqtt-packet:parser hello world/)
})
