import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../helpers/shared.js'

const WORKER = join(ROOT, 'dist', 'workers', 'analyze-layer.js')
const LOCK = join(ROOT, 'dist', '.build-lock')

function newestMtime(dir: string): number {
  let newest = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : e.name.endsWith('.ts') ? statSync(p).mtimeMs : 0)
  }
  return newest
}

function stale(): boolean {
  try {
    return statSync(WORKER).mtimeMs < Math.max(newestMtime(join(ROOT, 'src')), newestMtime(join(ROOT, 'workers')))
  } catch {
    return true
  }
}

/**
 * Pool tests run the compiled worker from dist/. `npm test` builds first; a bare `npx vitest run`
 * gets a build here when any source is newer than the worker. tsc emits even when some other
 * file has type errors, so its exit status is ignored; a directory lock keeps two test files from
 * building at once.
 */
export function ensureBuilt(): void {
  if (!stale()) return
  mkdirSync(join(ROOT, 'dist'), { recursive: true })
  for (let i = 0; ; i++) {
    try {
      mkdirSync(LOCK)
      break
    } catch {
      if (i > 600) throw new Error(`build lock ${LOCK} held for 5 minutes`)
      execFileSync('sleep', ['0.5'])
    }
  }
  try {
    if (stale()) {
      try {
        execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')], { stdio: 'ignore' })
      } catch {
        // type errors elsewhere still emit JavaScript
      }
    }
  } finally {
    rmdirSync(LOCK)
  }
}
