import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { dpkg } from '../../src/versions/dpkg.js'
import { rpm } from '../../src/versions/rpm.js'
import type { VersionScheme } from '../../src/versions/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { rows } from './vectors.js'
import { seeded } from '../../bench/reassess-fleet.js'

/**
 * Our dpkg and rpm orderings against the real tools, on real version strings paired at random
 * (fixed seed) and with their lexical neighbours (pairs that share a prefix, where orderings
 * differ in earnest).
 */
const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0
const HAS_DPKG = has('dpkg', ['--version'])
const HAS_RPM = has('rpm', ['--version'])
noteSharedMissing('dpkg/rpm cross-check')
if (!HAS_DPKG) console.warn('[skip] dpkg cross-check: `dpkg` is not installed')
if (!HAS_RPM) console.warn('[skip] rpm cross-check: `rpm` is not installed')

function pairs(pool: string[], n: number, seed: number): Array<[string, string]> {
  const rand = seeded(seed)
  const sorted = [...new Set(pool)].sort()
  const pick = () => Math.floor(rand() * sorted.length)
  const out: Array<[string, string]> = []
  while (out.length < n) {
    const i = pick()
    const j = out.length % 2 === 0 ? pick() : Math.min(sorted.length - 1, i + 1 + Math.floor(rand() * 3))
    out.push([sorted[i]!, sorted[j]!])
  }
  return out
}

function walk(dir: string, keep: (path: string) => boolean, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, keep, out)
    else if (keep(p)) out.push(p)
  }
  return out
}

function debianVersions(): string[] {
  const files = walk(sharedPath('pkgdb'), (p) => /\/(status|[^/]*\.status|[^/]*dpkg[^/]*\/testdata\/[^/]*\.txtar)$/.test(p) && !p.includes('opkg'))
  const fromStatus = files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/^Version: *(\S+)\s*$/gm)].map((m) => m[1]!))
  const fromOsv = ['debian-versions-generated.tsv', 'debian-versions.tsv'].flatMap((f) => rows(`osv-scalibr-semantic/${f}`).flatMap(([a, b]) => [a!, b!]))
  return [...fromStatus, ...fromOsv]
}

function rpmVersions(): string[] {
  const real = rows('rpm/rpm_evr_real.tsv').map(([, evr]) => evr!)
  const osv = rows('osv-scalibr-semantic/redhat-versions.tsv').flatMap(([a, b]) => [a!, b!])
  return [...real, ...osv]
}

function disagreements(scheme: VersionScheme, ps: Array<[string, string]>, real: string[]): string[] {
  expect(real.length).toBe(ps.length)
  return ps.flatMap(([a, b], i) => {
    const ours = String(scheme.compare(a, b))
    return ours === real[i] ? [] : [`${a} vs ${b}: ours ${ours}, real ${real[i]}`]
  })
}

describe.skipIf(!HAS_SHARED || !HAS_DPKG)('dpkg scheme vs `dpkg --compare-versions`', () => {
  it('agrees on 1,000 pairs of real Debian versions', () => {
    const pool = debianVersions().filter((v) => dpkg.isValid(v) && !v.includes("'"))
    const ps = pairs(pool, 1000, 7)
    // one shell per half: each comparison costs a dpkg exec or two
    const script = `while IFS="$(printf '\\t')" read -r a b; do
      if dpkg --compare-versions "$a" lt "$b" 2>/dev/null; then echo -1
      elif dpkg --compare-versions "$a" eq "$b" 2>/dev/null; then echo 0
      else echo 1; fi
    done`
    const half = Math.ceil(ps.length / 2)
    const run = (chunk: Array<[string, string]>) => spawnSync('bash', ['-c', script], { input: chunk.map((p) => p.join('\t')).join('\n') + '\n', encoding: 'utf8' })
    const results = [run(ps.slice(0, half)), run(ps.slice(half))]
    const real = results.flatMap((r) => r.stdout.trim().split('\n'))
    const bad = disagreements(dpkg, ps, real)
    console.log(`dpkg --compare-versions: ${ps.length - bad.length}/${ps.length} pairs agree (${new Set(ps.flat()).size} distinct versions)`)
    expect(bad).toEqual([])
  })
})

describe.skipIf(!HAS_SHARED || !HAS_RPM)("rpm scheme vs rpm's own rpm.vercmp", () => {
  it('agrees on 3,000 pairs of real EVR strings', () => {
    const ps = pairs(rpmVersions().filter((v) => rpm.isValid(v)), 3000, 11)
    const dir = mkdtempSync(join(tmpdir(), 'vigil-rpmcmp-'))
    try {
      const file = join(dir, 'pairs.tsv')
      writeFileSync(file, ps.map((p) => p.join('\t')).join('\n') + '\n')
      // one rpm process for all pairs: rpm's Lua reads the file and calls rpm.vercmp per line
      const lua = `%{lua: for line in io.lines("${file}") do local a, b = line:match("^(.-)\\t(.*)$"); io.write(tostring(rpm.vercmp(a, b)), "\\n") end}`
      const out = execFileSync('rpm', ['--eval', lua], { encoding: 'utf8', maxBuffer: 1 << 24 })
      const bad = disagreements(rpm, ps, out.trim().split('\n'))
      console.log(`rpm.vercmp: ${ps.length - bad.length}/${ps.length} pairs agree (${new Set(ps.flat()).size} distinct EVRs)`)
      expect(bad).toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
