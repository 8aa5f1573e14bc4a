/**
 * `npm run bench`: runs every benchmark in its own process (so one's heap and threads do not
 * colour the next), then writes BENCHMARKS.md from bench/results/*.json.
 *   node dist/bench/run.js [--only name,name] [--skip name,name] [--images N]
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { writeBenchmarksMd } from './report.js'

const here = dirname(fileURLToPath(import.meta.url))

/** The order matters little; the cheap ones first so a failure shows early. */
export const BENCHES: readonly { name: string; script: string; args: (images: string) => string[] }[] = [
  { name: 'versions', script: 'versions.js', args: () => [] },
  { name: 'feeds', script: 'feeds.js', args: () => [] },
  { name: 'feeds-sync', script: 'feeds-sync.js', args: () => [] },
  { name: 'match', script: 'match.js', args: () => [] },
  { name: 'layers', script: 'layers.js', args: () => [] },
  { name: 'sbom-vs-trivy', script: 'sbom-vs-trivy.js', args: () => [] },
  { name: 'reassess', script: 'reassess.js', args: (images) => ['--images', images] },
  { name: 'daemon', script: 'daemon.js', args: () => [] },
  { name: 'harbor', script: 'harbor.js', args: () => [] },
]

function main(): number {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, skip: { type: 'string' }, images: { type: 'string', default: '10000' } },
  })
  const only = values.only?.split(',')
  const skip = new Set(values.skip?.split(',') ?? [])
  let failed = 0
  for (const bench of BENCHES) {
    if ((only && !only.includes(bench.name)) || skip.has(bench.name)) continue
    const script = join(here, bench.script)
    if (!existsSync(script)) {
      console.error(`bench: ${bench.name}: ${script} is missing (npm run build?)`)
      failed++
      continue
    }
    console.error(`bench: ${bench.name} …`)
    const started = Date.now()
    const res = spawnSync(process.execPath, ['--expose-gc', script, ...bench.args(values.images ?? '10000')], { stdio: 'inherit' })
    console.error(`bench: ${bench.name} ${res.status === 0 ? 'done' : `FAILED (exit ${res.status ?? res.signal})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    if (res.status !== 0) failed++
  }
  const out = writeBenchmarksMd()
  console.error(`bench: wrote ${out}`)
  return failed === 0 ? 0 : 1
}

process.exitCode = main()
