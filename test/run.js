// Runs every compiled test file (dist/**/*.test.js) with node's test runner.
// `npm test` builds first, so this always tests the current sources.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

function find (dir, out = []) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (name === 'node_modules') continue
    if (statSync(path).isDirectory()) find(path, out)
    else if (name.endsWith('.test.js')) out.push(path)
  }
  return out
}

const only = process.argv.slice(2)
const files = find('dist').filter(f => only.length === 0 || only.some(o => f.includes(o))).sort()
if (files.length === 0) {
  console.error('no test files found under dist/ (run npm run build)')
  process.exit(1)
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=120000', ...files], { stdio: 'inherit' })
process.exit(result.status ?? 1)
