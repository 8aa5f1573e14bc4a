import { openStore } from './dist/src/store/env.js'
import { ensureSchema, indexImages } from './dist/src/assess/index.js'
import { loadPools, fleet, seeded } from './dist/bench/reassess-fleet.js'
import { mkdtempSync } from 'node:fs'
const pools = loadPools('/work/shared/data')
const store = openStore(mkdtempSync('/tmp/h6/m-'))
ensureSchema(store)
const invs = [...fleet(pools, { images: 1500, snapshots: 8, apps: 30, appPackages: [120, 260], drift: 0.3 }, seeded(3))]
let c0 = process.cpuUsage(); let t0 = performance.now()
for (let i = 0; i < 500; i += 250) indexImages(store, invs.slice(i, i + 250).map((inventory) => ({ inventory })))
let c = process.cpuUsage(c0); console.log('warm 500', (performance.now() - t0).toFixed(0), 'ms wall', ((c.user + c.system) / 1000).toFixed(0), 'ms cpu')
c0 = process.cpuUsage(); t0 = performance.now()
for (let i = 500; i < 1500; i += 250) indexImages(store, invs.slice(i, i + 250).map((inventory) => ({ inventory })))
c = process.cpuUsage(c0); console.log('next 1000', (performance.now() - t0).toFixed(0), 'ms wall', ((c.user + c.system) / 1000).toFixed(0), 'ms cpu')
