import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { healthRoutes } from '../../src/http/health.js'
import type { HttpServices } from '../../src/http/server.js'
import { ROOT } from '../helpers/shared.js'

/** The status the daemon's real health routes give a probe path, with the replica ready or not. */
export async function probeStatus(path: string, ready: boolean): Promise<number> {
  const app = Fastify()
  // The health routes read only readiness(); the rest of HttpServices is not touched.
  await app.register(healthRoutes, { readiness: () => ({ broker: true, index: ready }) } as unknown as HttpServices)
  try {
    return (await app.inject({ method: 'GET', url: path })).statusCode
  } finally {
    await app.close()
  }
}

export function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Runs deploy/make-secrets.sh as a user would and reads back the KEY=value lines it wrote. */
export function madeSecrets(): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-secrets-'))
  try {
    const file = join(dir, 'secrets.env')
    execFileSync(join(ROOT, 'deploy', 'make-secrets.sh'), [file], { stdio: 'pipe' })
    return parseEnvFile(readFileSync(file, 'utf8'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** KEY=value lines (kustomize envs files and compose .env files share this much). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue
    const eq = line.indexOf('=')
    if (eq <= 0) throw new Error(`not KEY=value: ${line}`)
    out[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return out
}

/** `serve --workers 2 --concurrency 4` → the flags object parseDaemonConfig takes. */
export function serveFlags(args: string[]): { command: string | undefined; flags: Record<string, string> } {
  const [command, ...rest] = args
  const flags: Record<string, string> = {}
  for (let i = 0; i < rest.length; i += 2) {
    const name = rest[i]!
    if (!name.startsWith('--') || rest[i + 1] === undefined) throw new Error(`expected --flag value pairs, got ${rest.join(' ')}`)
    flags[name.slice(2)] = rest[i + 1]!
  }
  return { command, flags }
}
