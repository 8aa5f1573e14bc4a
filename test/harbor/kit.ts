/**
 * What the Harbor tests share: a `vigil serve` child with its raw log kept (searched for secrets
 * later), Harbor's side of the HTTP conversation, and ajv validators built from the spec's own
 * OpenAPI components (../shared/data/schemas), so a report is checked against what Harbor reads.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ValidateFunction } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { freePort } from '../helpers/registry.js'
import { ROOT, sharedPath } from '../helpers/shared.js'
import { newAjv } from '../sbom/schemas.js'

export const CORPUS = join(homedir(), '.cache', 'vigil-corpus')
export const corpusOci = (name: string) => join(CORPUS, name, 'oci')
export const HAS_CORPUS = ['distroless-style', 'debian-minbase', 'distroless-multiarch'].every((n) => existsSync(join(corpusOci(n), 'index.json')))
export const TEST_KEY_B64 = Buffer.alloc(32, 11).toString('base64')

export interface DaemonChild {
  child: ChildProcess
  url: string
  /** Every byte the daemon wrote to stdout and stderr. */
  log(): string
  stop(): Promise<void>
}

export async function startServe(natsUrl: string, dataDir: string, env: Record<string, string> = {}): Promise<DaemonChild> {
  const port = await freePort()
  let out = ''
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'vigil.js'), 'serve', '--nats', natsUrl, '--http', `127.0.0.1:${port}`, '--data', dataDir, '--workers', '1', '--log-level', 'debug'], {
    env: { ...process.env, VIGIL_SECRET_KEY: TEST_KEY_B64, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`vigil serve exited: ${out.slice(-3000)}`)
    const ready = await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false)
    if (ready) break
    if (Date.now() > deadline) throw new Error(`vigil serve not ready: ${out.slice(-3000)}`)
    await sleep(100)
  }
  return {
    child,
    url,
    log: () => out,
    async stop() {
      if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGTERM')
      await exited
    },
  }
}

export const MIME = {
  VULN: 'application/vnd.security.vulnerability.report; version=1.1',
  SBOM: 'application/vnd.security.sbom.report+json; version=1.0',
  REQUEST: 'application/vnd.scanner.adapter.scan.request+json; version=1.0',
  RESPONSE: 'application/vnd.scanner.adapter.scan.response+json; version=1.0',
  METADATA: 'application/vnd.scanner.adapter.metadata+json; version=1.0',
} as const

/** Harbor's side: the headers its jobservice sends (reference §3). */
export class HarborClient {
  constructor(readonly base: string, private readonly token?: string) {}

  private auth(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {}
  }

  metadata(): Promise<Response> {
    return fetch(`${this.base}/api/v1/metadata`, { headers: { accept: MIME.METADATA, ...this.auth() } })
  }

  scan(body: unknown, contentType: string = MIME.REQUEST): Promise<Response> {
    return fetch(`${this.base}/api/v1/scan`, {
      method: 'POST',
      headers: { 'content-type': contentType, accept: MIME.RESPONSE, ...this.auth() },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
  }

  report(id: string, accept: string | undefined = MIME.VULN, query = ''): Promise<Response> {
    return fetch(`${this.base}/api/v1/scan/${id}/report${query}`, { headers: { ...(accept !== undefined ? { accept } : {}), ...this.auth() }, redirect: 'manual' })
  }

  /** Harbor's loop: poll until not 302, honouring Refresh-After (capped here to keep tests short). */
  async poll(id: string, accept: string = MIME.VULN, query = '', timeoutMs = 120_000): Promise<{ res: Response; polls: number }> {
    const deadline = Date.now() + timeoutMs
    for (let polls = 1; ; polls++) {
      const res = await this.report(id, accept, query)
      if (res.status !== 302) return { res, polls }
      const refresh = Number(res.headers.get('refresh-after'))
      if (!(refresh >= 1 && refresh <= 127)) throw new Error(`302 without a valid Refresh-After: ${res.headers.get('refresh-after')}`)
      await res.body?.cancel()
      if (Date.now() > deadline) throw new Error(`scan ${id} still running after ${timeoutMs} ms`)
      await sleep(Math.min(refresh * 1000, 250))
    }
  }
}

export interface SpecValidators {
  metadata: ValidateFunction
  scanResponse: ValidateFunction
  vulnerabilityReport: ValidateFunction
  sbomReport: ValidateFunction
  error: ValidateFunction
}

/** The spec's components as JSON Schema: `#/components/schemas/X` refs resolve inside one document. */
export function specValidators(version: '1.0' | '1.1' | '1.2' = '1.2'): SpecValidators {
  const doc = parseYaml(readFileSync(sharedPath('schemas', `harbor-scanner-adapter-openapi-v${version}.yaml`), 'utf8')) as { components: { schemas: Record<string, unknown> } }
  const ajv = newAjv()
  ajv.addFormat('float', true)
  ajv.addFormat('url', (s: string) => URL.canParse(s))
  ajv.addSchema({ $id: 'harbor', components: doc.components })
  const ref = (name: string) => ajv.compile({ $ref: `harbor#/components/schemas/${name}` })
  return {
    metadata: ref('ScannerAdapterMetadata'),
    scanResponse: ref('ScanResponse'),
    vulnerabilityReport: ref('HarborVulnerabilityReport'),
    sbomReport: version === '1.2' ? ref('HarborSbomReport') : ref('HarborVulnerabilityReport'),
    error: ref('ErrorResponse'),
  }
}

export function assertValid(validate: ValidateFunction, value: unknown, what: string): void {
  if (!validate(value)) throw new Error(`${what} does not match the spec: ${JSON.stringify(validate.errors?.slice(0, 5))}`)
}

/** Harbor decodes into typed Go structs: these fields must have exactly these JSON types. */
export function assertHarborTypes(report: { vulnerabilities?: Record<string, unknown>[] }): void {
  const severities = new Set(['Unknown', 'Negligible', 'Low', 'Medium', 'High', 'Critical'])
  for (const v of report.vulnerabilities ?? []) {
    for (const k of ['id', 'package', 'version', 'fix_version', 'description', 'status']) if (v[k] !== undefined && typeof v[k] !== 'string') throw new Error(`${k} is not a string in ${String(v.id)}`)
    if (!severities.has(v.severity as string)) throw new Error(`severity ${String(v.severity)} is not a spec severity`)
    if (!Array.isArray(v.links) || !Array.isArray(v.cwe_ids)) throw new Error('links / cwe_ids must be arrays')
    const cvss = v.preferred_cvss as Record<string, unknown> | undefined
    for (const k of ['score_v3', 'score_v2']) if (cvss?.[k] !== undefined && typeof cvss[k] !== 'number') throw new Error(`preferred_cvss.${k} is not a number`)
    if (typeof v.vendor_attributes !== 'object' || Array.isArray(v.vendor_attributes)) throw new Error('vendor_attributes must be an object')
  }
}
