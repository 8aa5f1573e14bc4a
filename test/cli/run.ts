/**
 * The real `vigil` command as a child process (bin/vigil.js over dist/: ensureBuilt first), with
 * an environment of the test's own: HOME and the data dir point into a temp dir, so no test
 * reads or writes the user's ~/.local/share/vigil or ~/.docker.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../helpers/shared.js'

export const VIGIL_BIN = join(ROOT, 'bin', 'vigil.js')

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  input?: string
  timeoutMs?: number
}

/** PATH only from the outer environment; everything else is the caller's. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, ...extra }
}

export function vigilSync(args: string[], opts: RunOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [VIGIL_BIN, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd ?? ROOT,
    env: cliEnv(opts.env),
    timeout: opts.timeoutMs ?? 60_000,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  })
}

/** Runs without blocking the test's event loop (servers the test started must keep answering). */
export async function vigilAsync(args: string[], opts: RunOptions = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [VIGIL_BIN, ...args], { cwd: opts.cwd ?? ROOT, env: cliEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  child.stdin.end(opts.input ?? '')
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
  const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  clearTimeout(timer)
  return { status, stdout, stderr }
}

export async function scratchDir(prefix = 'vigil-cli-'): Promise<{ path: string; dispose(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, dispose: () => rm(path, { recursive: true, force: true }) }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
