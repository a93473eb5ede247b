// The README is the front door: every setting must be in its options table.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { coreOptions } from '../src/config.js'
import { pluginOptions } from '../src/builtins.js'
import { envName, flagName } from '../src/options.js'

test('README.md lists every flag and environment variable of swallow start', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const missing = [...coreOptions, ...pluginOptions]
    .filter(spec => !readme.includes(`| \`${flagName(spec)}\` | \`${envName(spec)}\` |`))
    .map(flagName)
  assert.deepEqual(missing, [], 'regenerate the options table in README.md')
})
