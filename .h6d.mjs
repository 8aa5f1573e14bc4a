import { openStore } from './dist/src/store/env.js'
import { ensureSchema, indexImages, applyDelta } from './dist/src/assess/index.js'
import { importFeeds } from './dist/src/match/index.js'
import { variantsWithFinding } from './dist/src/store/findings.js'
import { loadPools, fleet, seeded, mutateRecord, pick } from './dist/bench/reassess-fleet.js'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
const pools = loadPools('/work/shared/data')
const dir = mkdtempSync('/tmp/h6/d-')
const store = openStore(dir)
ensureSchema(store)
const nd = (n, rs) => { const f = `${dir}/${n}.ndjson`; writeFileSync(f, rs.map((r) => JSON.stringify(r)).join('\n')); return f }
await importFeeds(store, [nd('init', pools.osv), ...pools.feedFiles])
const rng = seeded(4)
const invs = [...fleet(pools, { images: 1000, snapshots: 8, apps: 20, appPackages: [120, 260], drift: 0.3 }, rng)]
for (let i = 0; i < 1000; i += 250) indexImages(store, invs.slice(i, i + 250).map((inventory) => ({ inventory })))
const hitting = pools.osv.filter((r) => variantsWithFinding(store, r.id).length > 0)
const session = new Session(); session.connect(); await session.post('Profiler.enable'); await session.post('Profiler.start')
const times = []; let ev = 0; let cpu = 0
for (let i = 0; i < 60; i++) {
  const m = mutateRecord(pick(rng, hitting), pools, rng, `2032-01-01T00:00:${String(i).padStart(2, '0')}Z`)
  const rep = await importFeeds(store, [nd('one', [m])])
  const c0 = process.cpuUsage(); const t = performance.now()
  const s = applyDelta(store, rep.delta, { onChange: () => ev++ })
  times.push(performance.now() - t); const c = process.cpuUsage(c0); cpu += (c.user + c.system) / 1000
}
const { profile } = await session.post('Profiler.stop')
writeFileSync('/tmp/h6/prof/d.cpuprofile', JSON.stringify(profile))
times.sort((a, b) => a - b)
console.log('p50', times[30].toFixed(1), 'max', times[59].toFixed(1), 'events/delta', ev / 60, 'cpu ms/delta', (cpu / 60).toFixed(1))
