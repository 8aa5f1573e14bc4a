import { closeSync, constants, lstatSync, openSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseTarget } from '../image/reference.js'

/**
 * Work that outlived its job's time limit or the shutdown is abandoned: the job's slot is freed at
 * once, whatever the work is blocked on. One thing it can be blocked on cannot be interrupted
 * from JavaScript: opening a FIFO for reading waits in a libuv pool thread until a writer comes,
 * and a process holding such a thread never exits (process.exit joins the pool). So the FIFOs a
 * local target names get a writer for an instant: the blocked open returns, its read sees end of
 * file, and the abandoned work fails on its own.
 */
const MAX_ENTRIES = 10_000

export function releaseBlockedReads(target: string | undefined): number {
  if (target === undefined) return 0
  let parsed
  try {
    parsed = parseTarget(target)
  } catch {
    return 0
  }
  if (parsed.kind === 'docker-archive' || parsed.kind === 'sbom') return releaseFifo(parsed.path) ? 1 : 0
  if (parsed.kind !== 'oci') return 0
  let released = 0
  for (const path of [parsed.dir, join(parsed.dir, 'index.json'), join(parsed.dir, 'oci-layout')]) if (releaseFifo(path)) released++
  const blobs = join(parsed.dir, 'blobs', 'sha256')
  try {
    const names = readdirSync(blobs)
    for (const name of names.slice(0, MAX_ENTRIES)) if (releaseFifo(join(blobs, name))) released++
  } catch {
    // no blobs directory: nothing to release there
  }
  return released
}

function releaseFifo(path: string): boolean {
  try {
    if (!lstatSync(path).isFIFO()) return false
    // Non-blocking: succeeds only while a reader waits (ENXIO otherwise), and never waits itself.
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK))
    return true
  } catch {
    return false
  }
}
