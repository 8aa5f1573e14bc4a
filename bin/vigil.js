#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (npm run build).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const entry = new URL('../dist/src/cli/main.js', import.meta.url)
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('vigil: not built yet; run `npm run build` in ' + fileURLToPath(new URL('..', import.meta.url)) + '\n')
  process.exit(3)
}
const { main } = await import(entry.href)
process.exitCode = await main(process.argv.slice(2))
// The command is over. A handle some library left open must not keep the process (or a
// supervisor waiting on it) alive: unref'd, so an idle loop still exits at once.
setTimeout(() => process.exit(), 2_000).unref()
