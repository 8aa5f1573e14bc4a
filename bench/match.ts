/**
 * Matching latency (`npm run build && node dist/bench/match.js`): every shipped feed (Go and PyPI
 * OSV, Alpine secdb v3.3–v3.11, Debian tracker samples) imported, then a 1,000-package inventory
 * matched with matchInventory. The inventory takes real package names from the store and real
 * versions from the advisories themselves (introduced versions, which are affected, and fixed
 * versions, which are not), plus 10% packages with no advisories. Reports the median and p95 of
 * 200 runs after 20 warm-up runs. Results go to bench/results/match.json.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { importFeeds, matchInventory, splitStoreKey } from '../src/match/index.js'
import type { CompiledAdvisory } from '../src/match/model.js'
import { keyString } from '../src/store/advisories.js'
import { openStore } from '../src/store/env.js'
import type { Package } from '../src/types.js'

const here = dirname(fileURLToPath(import.meta.url))
const ROOT = existsSync(join(here, '..', 'package.json')) ? resolve(here, '..') : resolve(here, '..', '..')
const ADV = join(process.env.VIGIL_SHARED ?? resolve(ROOT, '..', 'shared'), 'data', 'advisories')
const SIZE = 1000

const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-match-'))
const store = openStore(dir, { mapSize: 4 * 1024 ** 3 })
await importFeeds(store, [join(ADV, 'osv', 'go'), join(ADV, 'osv', 'pypi'), join(ADV, 'alpine-secdb'), join(ADV, 'debian-tracker')])

// Every 3rd store key, cycling, until SIZE × 0.9 packages; version alternates introduced / fixed.
const keys = [...store.advisories.getKeys({})].map(keyString)
const packages: Package[] = []
for (let i = 0; packages.length < SIZE * 0.9; i += 3) {
  const key = keys[i % keys.length]!
  const { ecosystem, name } = splitStoreKey(key)
  const adv = (store.advisories.get(key) as CompiledAdvisory[])[0]!
  const iv = adv.ranges[0]?.intervals[0]
  const version = (packages.length % 2 === 0 ? iv?.introduced : undefined) ?? iv?.fixed ?? iv?.lastAffected ?? adv.versions[0] ?? '1.0.0'
  const os = ecosystem.includes(':')
  packages.push({ ecosystem, name, version, purl: `pkg:generic/${name}@${version}`, path: 'bench', kind: os ? 'os' : 'lang', ...(os ? { source: { name } } : {}) })
}
for (let i = 0; packages.length < SIZE; i++) packages.push({ ecosystem: 'npm', name: `no-advisories-${i}`, version: '1.0.0', purl: '', path: 'bench', kind: 'lang' })

const inventory = { packages }
for (let i = 0; i < 20; i++) matchInventory(store, inventory)
// Wall time and this process's CPU time per run: on a shared, loaded machine the wall time
// includes waiting for a core; the CPU time is what one match costs.
const times: number[] = []
const cpu: number[] = []
let findings = 0
for (let i = 0; i < 200; i++) {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  findings = matchInventory(store, inventory).length
  times.push(performance.now() - t0)
  const c = process.cpuUsage(c0)
  cpu.push((c.user + c.system) / 1000)
}
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)]!
const median = pct(times, 0.5)
const p95 = pct(times, 0.95)
const cpuMedian = pct(cpu, 0.5)
console.log(`matchInventory: ${SIZE} packages, ${findings} findings, ${keys.length} advisory keys: wall median ${median.toFixed(2)} ms, p95 ${p95.toFixed(2)} ms; CPU median ${cpuMedian.toFixed(2)} ms; loadavg ${loadavg()[0]!.toFixed(1)}`)
await store.close()
rmSync(dir, { recursive: true, force: true })

const out = {
  bench: 'match', date: new Date().toISOString(), node: process.version, loadavg: loadavg(), target: '1,000-package inventory <= 20 ms',
  packages: SIZE, findings, advisoryKeys: keys.length, medianMs: Number(median.toFixed(3)), p95Ms: Number(p95.toFixed(3)), cpuMedianMs: Number(cpuMedian.toFixed(3)), minMs: Number(pct(times, 0).toFixed(3)),
}
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true })
writeFileSync(join(ROOT, 'bench', 'results', 'match.json'), JSON.stringify(out, null, 2) + '\n')
