#!/usr/bin/env node
// The `swallow` command. Runs the compiled TypeScript in dist/ (built by `npm install` via `prepare`).
import { main } from '../dist/src/cli.js'

main(process.argv.slice(2))
