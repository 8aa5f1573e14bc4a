/**
 * Comparator throughput per version scheme, on real version pairs from ../shared/data/version
 * (`npm run build && node dist/bench/versions.js`). Each task compares every pair of a fixed set
 * once per iteration, so "compares/s" is iterations/s × pairs. Two baselines show what the
 * parsed-version cache buys: the `semver` and `@renovatebot/pep440` packages' own compare, which
 * re-parse both strings on every call. Results go to bench/results/versions.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compare as pep440PackageCompare } from '@renovatebot/pep440'
import semverLib from 'semver'
import { Bench } from 'tinybench'
import { SCHEMES } from '../src/versions/index.js'
import type { SchemeName } from '../src/versions/types.js'

const here = dirname(fileURLToPath(import.meta.url))
const ROOT = existsSync(join(here, '..', 'package.json')) ? resolve(here, '..') : resolve(here, '..', '..')
const SHARED_DATA = join(process.env.VIGIL_SHARED ?? resolve(ROOT, '..', 'shared'), 'data', 'version')
const PAIRS = 2000

const FILES: Record<SchemeName, string> = {
  dpkg: 'osv-scalibr-semantic/debian-versions-generated.tsv',
  apk: 'osv-scalibr-semantic/alpine-versions-generated.tsv',
  rpm: 'rpm/rpm_evr_real.tsv',
  semver: 'npm-semver/semver_compare.tsv',
  pep440: 'osv-scalibr-semantic/pypi-versions-generated.tsv',
  go: 'go-semver/go_semver_compare.tsv',
  maven: 'osv-scalibr-semantic/maven-versions-generated.tsv',
  rubygems: 'osv-scalibr-semantic/rubygems-versions-generated.tsv',
  nuget: 'osv-scalibr-semantic/nuget-versions.tsv',
  composer: 'osv-scalibr-semantic/packagist-versions-generated.tsv',
  generic: 'osv-scalibr-semantic/cran-versions-generated.tsv',
}

function pairsFor(name: SchemeName): Array<[string, string]> {
  const lines = readFileSync(join(SHARED_DATA, FILES[name]), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
  const scheme = SCHEMES.find((s) => s.name === name)!
  const valid = (v: string) => scheme.isValid(v)
  let pairs: Array<[string, string]>
  if (name === 'rpm') {
    // EVR list, no pairs: pair each EVR with the one 37 rows on, a fixed pseudo-random partner
    const evrs = lines.map((l) => l.split('\t')[1]!)
    pairs = evrs.map((e, i) => [e, evrs[(i + 37) % evrs.length]!])
  } else {
    pairs = lines.map((l) => l.split('\t') as [string, string])
  }
  pairs = pairs.filter(([a, b]) => valid(a) && valid(b))
  const out: Array<[string, string]> = []
  for (let i = 0; out.length < PAIRS && pairs.length > 0; i++) out.push(pairs[i % pairs.length]!)
  return out
}

interface Row { task: string; pairs: number; comparesPerSec: number; nsPerCompare: number; rmePercent: number }

async function main(): Promise<void> {
  if (!existsSync(SHARED_DATA)) {
    console.error(`bench/versions: ${SHARED_DATA} is absent (set VIGIL_SHARED to the folder holding data/)`)
    process.exit(2)
  }
  const bench = new Bench({ time: 500, warmupTime: 100 })
  const sizes = new Map<string, number>()
  let sink = 0
  const add = (task: string, pairs: Array<[string, string]>, cmp: (a: string, b: string) => number) => {
    sizes.set(task, pairs.length)
    bench.add(task, () => {
      for (const [a, b] of pairs) sink += cmp(a, b)
    })
  }
  for (const scheme of SCHEMES) add(scheme.name, pairsFor(scheme.name), (a, b) => scheme.compare(a, b))
  add('baseline: semver package compare (re-parses)', pairsFor('semver'), (a, b) => semverLib.compare(a, b, { loose: true }))
  add('baseline: @renovatebot/pep440 compare (re-parses)', pairsFor('pep440'), (a, b) => pep440PackageCompare(a, b))

  const loadBefore = loadavg()[0]
  await bench.run()
  const rows: Row[] = []
  for (const task of bench.tasks) {
    const r = task.result
    if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state}`)
    const n = sizes.get(task.name)!
    const perSec = r.throughput.mean * n
    rows.push({ task: task.name, pairs: n, comparesPerSec: Math.round(perSec), nsPerCompare: Math.round(1e9 / perSec), rmePercent: Number(r.latency.rme.toFixed(2)) })
  }
  console.table(rows)
  const out = join(ROOT, 'bench', 'results', 'versions.json')
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify({
    node: process.version,
    date: new Date().toISOString(),
    // a shared machine: a high load average means wide error margins
    loadavg1m: { before: loadBefore, after: loadavg()[0] },
    note: 'compares per second; each iteration compares every pair once',
    results: rows,
  }, null, 2) + '\n')
  console.log(`wrote ${out} (checksum ${sink})`)
}

await main()
