// Child of crash.test.ts: re-assesses a queued delta slowly, announcing each committed batch,
// until the parent kills it with SIGKILL.
import { readFileSync } from 'node:fs'
import { openStore } from '../../src/store/env.js'
import { reassessAfterImport, resumePending } from '../../src/assess/index.js'

const [dir, deltaFile] = process.argv.slice(2) as [string, string]
const store = openStore(dir, { mapSize: 2 * 1024 ** 3 })
const opts = {
  batchSize: 2,
  onBatch: (p: { next: number; total: number }) => {
    process.stdout.write(`batch ${p.next}/${p.total}\n`)
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 15)
  },
}
if (deltaFile === '-') resumePending(store, opts)
else reassessAfterImport(store, JSON.parse(readFileSync(deltaFile, 'utf8')), opts)
process.stdout.write('finished\n')
await store.close()
