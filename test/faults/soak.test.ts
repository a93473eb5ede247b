// `npm run soak` (soak/run.ts) at its smallest: the fuzz probe alone writes a report with its
// table, the seed and the commit; an unknown flag is one error line and exit 2.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run, tempDir } from '../helpers/system.js'

const SOAK = fileURLToPath(new URL('../../soak/run.js', import.meta.url))

test('npm run soak -- --minutes 0.2 --only fuzz --out FILE writes the fuzz table with the seed and the commit', async () => {
  const dir = tempDir()
  try {
    const out = join(dir.path, 'RELIABILITY.md')
    const result = await run(process.execPath, [SOAK, '--minutes', '0.2', '--only', 'fuzz', '--seed', '4242', '--out', out], 60_000)
    assert.equal(result.code, 0, result.stdout + result.stderr)
    assert.match(result.stdout, /seed 4242 \(replay: npm run soak -- --seed 4242\)/)
    const report = readFileSync(out, 'utf8')
    assert.match(report, /^- seed: 4242 /m)
    assert.match(report, /^- commit: [0-9a-f]{7,}(\+dirty)? *$/m)
    assert.match(report, /^## Seeded fuzzer$/m)
    assert.match(report, /^\| embedded \| 3,000 \| 300 \| \d+ of \d+: complete, once, in order \| yes \| 200 ok \|/m)
    assert.match(report, /^## Not run by this soak \(yet\)$/m)
    assert.match(report, /^- \*\*kill -9 cycles\*\* \(`kill9`\): left out of this run/m)
    assert.match(report, /^## Before the fixes \(historical, measured by hand on 2026-12-03\)$/m)
  } finally {
    dir.remove()
  }
})

test('npm run soak with an unknown flag: one error line, exit 2', async () => {
  const result = await run(process.execPath, [SOAK, '--minuets', '3'], 10_000)
  assert.equal(result.code, 2)
  assert.equal(result.stderr, 'soak: unknown option --minuets (npm run soak -- --help lists them)\n')
  assert.equal(result.stdout, '')
})
