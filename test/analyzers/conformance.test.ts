import { describe, expect, it } from 'vitest'
import { ANALYZERS, analyzerSetVersion } from '../../src/analyzers/index.js'
import type { Analyzer, AnalyzerResult, FileInfo } from '../../src/analyzers/types.js'
import { isErrorCode, VigilError } from '../../src/errors.js'
import { prng } from './os-helpers.js'

/**
 * Shared checks for every entry of ANALYZERS: the registry contract that the layer pipeline,
 * the layer cache and the worker boundary rely on. A new analyzer gets these for free.
 */

// Files no package analyzer has any business with (non-executable, so binary sniffers pass too).
const UNRELATED: FileInfo[] = ['etc/hostname', 'var/log/syslog', 'usr/share/zoneinfo/UTC', 'etc/passwd', 'tmp/notes.txt', 'var/lib/dpkg/info', 'lib/apk', 'var/lib/rpm']
  .map((path) => ({ path, size: 1234, mode: 0o644 }))

// Realistic paths, one of which each analyzer should accept, to drive parse() with garbage.
const CANDIDATES: FileInfo[] = [
  'etc/os-release', 'lib/apk/db/installed', 'var/lib/dpkg/status', 'var/lib/dpkg/info/bash.list', 'var/lib/rpm/Packages',
  'var/lib/rpmmanifest/container-manifest-2', 'app/node_modules/left-pad/package.json', 'usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA',
  'usr/lib/python3/dist-packages/foo-1.0.egg', 'app/lib/app.jar', 'src/Cargo.lock', 'usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec',
  'app/vendor/composer/installed.json', 'app/App.deps.json', 'app/package-lock.json', 'app/yarn.lock', 'app/pnpm-lock.yaml', 'app/go.mod', 'app/go.sum',
  'app/requirements.txt', 'app/Gemfile.lock', 'app/composer.lock', 'app/poetry.lock', 'app/Pipfile.lock',
].map((path) => ({ path, size: 4096, mode: 0o644 }))
  .concat([{ path: 'usr/local/bin/app', size: 4 * 1024 * 1024, mode: 0o755 }])

function garbage(): Array<[string, Uint8Array]> {
  const rand = prng(42)
  const random = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256))
  const text = (s: string): Uint8Array => new TextEncoder().encode(s)
  const withHead = (head: number[], n: number): Uint8Array => {
    const b = random(n)
    b.set(head)
    return b
  }
  return [
    ['empty', new Uint8Array(0)],
    ['one byte', random(1)],
    ['64 random bytes', random(64)],
    ['4 KiB random bytes', random(4096)],
    ['printable noise', text(Array.from({ length: 200 }, () => String.fromCharCode(32 + Math.floor(rand() * 95))).join('') + '\n:=\n\n')],
    ['truncated JSON', text('{"name": "x", "packages": [{"name": ')],
    ['JSON of the wrong shape', text('[1, "two", null, {"dependencies": 3}]')],
    ['zip magic then noise', withHead([0x50, 0x4b, 0x03, 0x04], 2048)],
    ['ELF magic then noise', withHead([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 4096)],
    ['SQLite magic then noise', withHead([...new TextEncoder().encode('SQLite format 3\0')], 4096)],
    ['invalid UTF-8', Uint8Array.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0x0a, 0xf0, 0x28, 0x8c, 0xbc])],
  ]
}

const RESULT_KEYS = new Set(['packages', 'os', 'ownedFiles', 'warnings'])

describe('analyzer registry conformance', () => {
  it('names are unique, versions are positive integers, kinds are known', () => {
    const names = ANALYZERS.map((a) => a.name)
    expect(new Set(names).size).toBe(names.length)
    for (const a of ANALYZERS) {
      expect(a.name, a.name).toMatch(/^[a-z0-9][a-z0-9-]*$/)
      expect(Number.isInteger(a.version) && a.version >= 1, `${a.name} version`).toBe(true)
      expect(['os', 'lang', 'release'], a.name).toContain(a.kind)
      if (a.maxBytes !== undefined) expect(a.maxBytes, a.name).toBeGreaterThan(0)
    }
    expect(analyzerSetVersion()).toContain(`${ANALYZERS[0]!.name}@${ANALYZERS[0]!.version}`)
  })

  it.each(ANALYZERS.map((a) => [a.name, a] as const))('%s: match() is pure, and false for unrelated files', (_name, a) => {
    for (const file of [...UNRELATED, ...CANDIDATES]) {
      const frozen = Object.freeze({ ...file })
      const first = a.match(frozen)
      expect(typeof first).toBe('boolean')
      expect(a.match(frozen)).toBe(first)
      expect(frozen).toEqual(file)
    }
    for (const file of UNRELATED) expect(a.match(file), `${a.name} matched ${file.path}`).toBe(false)
  })

  it.each(ANALYZERS.map((a) => [a.name, a] as const))('%s: parse() of garbage returns plain data or throws a VigilError', async (_name, a: Analyzer) => {
    const file = CANDIDATES.find((f) => a.match(f)) ?? { path: 'garbage.bin', size: 4096, mode: 0o644 }
    for (const [label, bytes] of garbage()) {
      if (a.sniff) expect(typeof a.sniff(bytes.subarray(0, 512)), `${a.name} sniff ${label}`).toBe('boolean')
      let result: unknown
      try {
        result = await a.parse(bytes, { ...file, size: bytes.length })
      } catch (err) {
        expect(VigilError.is(err), `${a.name} on ${label} threw ${String(err)}`).toBe(true)
        continue
      }
      expect(typeof result === 'object' && result !== null, `${a.name} on ${label}`).toBe(true)
      for (const key of Object.keys(result as object)) expect(RESULT_KEYS.has(key), `${a.name} on ${label}: key ${key}`).toBe(true)
      expect(structuredClone(result), `${a.name} on ${label}: plain data`).toEqual(result)
      for (const w of (result as AnalyzerResult).warnings ?? []) expect(isErrorCode(w.code), `${a.name} on ${label}: warning code ${w.code}`).toBe(true)
    }
  })
})
