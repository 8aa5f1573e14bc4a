/**
 * `vigil sbom` against Trivy on every corpus image form, both cold: a fresh Vigil data dir (no
 * layer cache) and a fresh Trivy cache dir per run. Both run as child processes, timed with
 * /usr/bin/time (wall and CPU seconds). Run: `npm run build && node dist/bench/sbom-vs-trivy.js`.
 * Results: bench/results/sbom-vs-trivy.json. BENCH_RUNS (default 1) repeats each pair.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { cpus, homedir, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { existsSync, readdirSync } from 'node:fs'
import { packageRoot } from '../src/layers/pool.js'

const run = promisify(execFile)
const ROOT = packageRoot(dirname(fileURLToPath(import.meta.url)))
const CORPUS = process.env.VIGIL_CORPUS ?? join(homedir(), '.cache', 'vigil-corpus')
const TRIVY = process.env.VIGIL_PEER_TRIVY ?? join(ROOT, '..', 'shared', 'tools', 'peer-trivy.sh')
const RUNS = Number(process.env.BENCH_RUNS ?? 1)

interface Timing {
  wall: number
  cpu: number
}

/** Runs a command under /usr/bin/time; wall and user+sys seconds of it and its children. */
async function time(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timing> {
  const marker = 'VIGIL_BENCH_TIME'
  const { stderr } = await run('/usr/bin/time', ['-f', `${marker} %e %U %S`, cmd, ...args], { env, maxBuffer: 64 * 1024 * 1024 })
  const m = new RegExp(`${marker} ([\\d.]+) ([\\d.]+) ([\\d.]+)`).exec(stderr)
  if (!m) throw new Error(`no timing in: ${stderr.slice(-500)}`)
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]) }
}

function forms(): Array<{ name: string; target: string; input: string }> {
  const out: Array<{ name: string; target: string; input: string }> = []
  for (const image of readdirSync(CORPUS).sort()) {
    const oci = join(CORPUS, image, 'oci')
    if (!existsSync(join(oci, 'index.json'))) continue
    out.push({ name: `${image} (oci)`, target: `oci:${oci}`, input: oci })
    const archive = join(CORPUS, `${image}.docker.tar`)
    if (existsSync(archive)) out.push({ name: `${image} (docker-archive)`, target: `docker-archive:${archive}`, input: archive })
  }
  return out
}

async function main(): Promise<void> {
  const rows: Array<{ image: string; vigil: Timing; trivy: Timing; wallRatio: number; cpuRatio: number }> = []
  const env = { ...process.env }
  delete env.TRIVY_CACHE_DIR // peer-trivy.sh then makes (and removes) a fresh cache per run
  const load = [loadavg()[0]]
  for (const form of forms()) {
    for (let i = 0; i < RUNS; i++) {
      const data = await mkdtemp(join(tmpdir(), 'vigil-bench-data-'))
      const out = await mkdtemp(join(tmpdir(), 'vigil-bench-out-'))
      try {
        const vigil = await time(process.execPath, [join(ROOT, 'bin', 'vigil.js'), 'sbom', form.target, '--data', data, '--format', 'cyclonedx', '-o', join(out, 'vigil.json'), '-q'], env)
        const trivy = await time(TRIVY, ['image', '--input', form.input, '--format', 'cyclonedx', '-o', join(out, 'trivy.json')], env)
        rows.push({ image: form.name, vigil, trivy, wallRatio: +(vigil.wall / trivy.wall).toFixed(3), cpuRatio: +(vigil.cpu / trivy.cpu).toFixed(3) })
        console.log(`${form.name.padEnd(36)} vigil ${vigil.wall.toFixed(2)}s (cpu ${vigil.cpu.toFixed(2)})  trivy ${trivy.wall.toFixed(2)}s (cpu ${trivy.cpu.toFixed(2)})  ratio ${(vigil.wall / trivy.wall).toFixed(2)}`)
      } finally {
        await rm(data, { recursive: true, force: true })
        await rm(out, { recursive: true, force: true })
      }
    }
  }
  load.push(loadavg()[0])
  const sum = (k: 'vigil' | 'trivy', f: 'wall' | 'cpu') => rows.reduce((n, r) => n + r[k][f], 0)
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadAverage1m: { before: load[0], after: load[1] },
    trivy: 'v0.44.1 via shared/tools/peer-trivy.sh (fresh cache per run)',
    target: 'wall ratio vigil/trivy <= 1.0 per image',
    rows,
    total: { vigilWall: +sum('vigil', 'wall').toFixed(2), trivyWall: +sum('trivy', 'wall').toFixed(2), wallRatio: +(sum('vigil', 'wall') / sum('trivy', 'wall')).toFixed(3), cpuRatio: +(sum('vigil', 'cpu') / sum('trivy', 'cpu')).toFixed(3) },
    worstWallRatio: Math.max(...rows.map((r) => r.wallRatio)),
  }
  const file = join(ROOT, 'bench', 'results', 'sbom-vs-trivy.json')
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, JSON.stringify(results, null, 2) + '\n')
  console.log(JSON.stringify(results.total), 'worst', results.worstWallRatio)
}

await main()
