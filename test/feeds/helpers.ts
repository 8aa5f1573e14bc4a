import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { main } from '../../src/cli/main.js'
import { openStore, type Store } from '../../src/store/env.js'
import type { Package } from '../../src/types.js'

/** A fresh store in a temp dir; `done()` closes and deletes it. */
export function tempStore(): { store: Store; dir: string; done: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-feeds-'))
  const store = openStore(dir, { mapSize: 2 * 1024 ** 3 })
  return { store, dir, done: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }) } }
}

export function langPkg(ecosystem: string, name: string, version: string): Package {
  return { ecosystem, name, version, purl: `pkg:generic/${name}@${version}`, path: 'test', kind: 'lang' }
}

export function osPkg(ecosystem: string, name: string, version: string, source?: string): Package {
  return { ecosystem, name, version, purl: `pkg:generic/${name}@${version}`, path: 'test', kind: 'os', ...(source ? { source: { name: source } } : {}) }
}

/** `vigil …` through main(), with its exit code and what it wrote. */
export async function vigil(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (c) => (out += String(c)))
  stderr.on('data', (c) => (err += String(c)))
  const code = await main(argv, { stdout, stderr, stdin: new PassThrough(), env: {} })
  return { code, out, err }
}
