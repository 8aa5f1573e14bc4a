import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { zipSync } from 'fflate'
import { sharedPath } from '../helpers/shared.js'

/**
 * A stand-in for the feed sources, built at test time from ../shared/data: a directory in the
 * mirror layout (`<root>/<source>/<upstream path>`), and a loopback HTTP server over it that
 * answers conditional requests, counts every request, and can be told to misbehave per path.
 */

export type OsvRecordJson = { id: string; modified?: string; [k: string]: unknown }

export interface Upstream {
  root: string
  /** OSV folders: records by id (the zip and listing are rebuilt from these by `publishOsv`). */
  osv: Map<string, Map<string, OsvRecordJson>>
  publishOsv(ecosystem: string): void
  write(path: string, content: string | Uint8Array): void
  remove(path: string): void
  done(): void
}

function readJsonDir(dir: string): OsvRecordJson[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as OsvRecordJson)
}

/** Real CVE ids from the shared Alpine and Debian files, for EPSS rows and the KEV catalogue. */
export function sharedCves(limit: number): string[] {
  const text = ['advisories/alpine-secdb/alpinelinux-alpine-secdb/v3.10/main.json', 'advisories/debian-tracker/vunnel_debian_tracker_sample.json']
    .map((p) => readFileSync(sharedPath(...p.split('/')), 'utf8'))
    .join('\n')
  return [...new Set(text.match(/CVE-\d{4}-\d{4,}/g) ?? [])].sort().slice(0, limit)
}

export function buildUpstream(options: { osv?: Record<string, string> } = {}): Upstream {
  const root = mkdtempSync(join(tmpdir(), 'vigil-upstream-'))
  const write = (path: string, content: string | Uint8Array) => {
    const file = join(root, ...path.split('/'))
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, content)
  }
  const osv = new Map<string, Map<string, OsvRecordJson>>()
  const publishOsv = (eco: string) => {
    const records = [...osv.get(eco)!.values()]
    const files: Record<string, Uint8Array> = {}
    rmSync(join(root, 'osv', eco), { recursive: true, force: true })
    for (const r of records) {
      const bytes = Buffer.from(JSON.stringify(r, null, 2))
      files[`${r.id}.json`] = bytes
      write(`osv/${eco}/${r.id}.json`, bytes)
    }
    write(`osv/${eco}/all.zip`, zipSync(files, { level: 1 }))
    // osv.dev's listing: `<modified>,<id>`, newest first.
    const rows = records.map((r) => [r.modified ?? '1970-01-01T00:00:00Z', r.id] as const).sort((a, b) => (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0))
    write(`osv/${eco}/modified_id.csv`, rows.map(([m, id]) => `${m},${id}`).join('\n') + '\n')
  }
  for (const [eco, dir] of Object.entries(options.osv ?? { Go: 'advisories/osv/go' })) {
    osv.set(eco, new Map(readJsonDir(sharedPath(...dir.split('/'))).map((r) => [r.id, r])))
    publishOsv(eco)
  }
  write('debian/tracker/data/json', readFileSync(sharedPath('advisories', 'debian-tracker', 'vunnel_debian_tracker_sample.json')))
  for (const branch of ['v3.10', 'v3.11']) {
    for (const repo of ['main', 'community']) write(`alpine/${branch}/${repo}.json`, readFileSync(sharedPath('advisories', 'alpine-secdb', 'alpinelinux-alpine-secdb', branch, `${repo}.json`)))
  }
  const cves = sharedCves(40)
  const epss = ['#model_version:v2025.03.14,score_date:2026-12-07T00:00:00+0000', 'cve,epss,percentile', ...cves.map((c, i) => `${c},${((i + 1) / 100).toFixed(5)},${(0.5 + i / 100).toFixed(5)}`)]
  write('epss/epss_scores-current.csv.gz', gzipSync(epss.join('\n') + '\n'))
  const kev = { title: 'CISA Catalog of Known Exploited Vulnerabilities', catalogVersion: '2026.12.07', dateReleased: '2026-12-07T15:00:00.000Z', vulnerabilities: cves.slice(0, 5).map((cveID) => ({ cveID })) }
  write('kev/sites/default/files/feeds/known_exploited_vulnerabilities.json', JSON.stringify(kev))
  return { root, osv, publishOsv, write, remove: (path) => rmSync(join(root, ...path.split('/')), { force: true }), done: () => rmSync(root, { recursive: true, force: true }) }
}

/** What one request asked and got. */
export interface Hit {
  path: string
  conditional: boolean
  status: number
}

/** How the server misbehaves on a path (exact upstream path under the mirror root). */
export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string; times?: number }
  | { kind: 'reset' } // headers and half the body, then the connection is destroyed
  | { kind: 'truncate' } // the first half of the file, with a Content-Length that matches it
  | { kind: 'stall' } // headers never come
  | { kind: 'endless' } // a chunked body that never ends
  | { kind: 'declared-huge' } // Content-Length far past any real file

export interface FeedServer {
  base: string
  hits: Hit[]
  faults: Map<string, Fault>
  close(): Promise<void>
}

export async function startFeedServer(root: string): Promise<FeedServer> {
  const hits: Hit[] = []
  const faults = new Map<string, Fault>()
  const sockets = new Set<import('node:net').Socket>()
  const timers = new Set<NodeJS.Timeout>()
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '')
    const conditional = req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined
    const hit: Hit = { path, conditional, status: 0 }
    hits.push(hit)
    const fault = faults.get(path)
    if (fault?.kind === 'status' && (fault.times === undefined || fault.times-- > 0)) {
      hit.status = fault.status
      res.writeHead(fault.status, fault.retryAfter ? { 'retry-after': fault.retryAfter } : {})
      res.end('no')
      return
    }
    if (fault?.kind === 'stall') {
      hit.status = -1
      return
    }
    if (fault?.kind === 'endless') {
      hit.status = 200
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const chunk = Buffer.alloc(256 * 1024, 0x20)
      const pump = () => {
        while (res.write(chunk)) {
          /* fill the socket buffer */
        }
      }
      res.on('drain', pump)
      res.on('close', () => res.off('drain', pump))
      pump()
      return
    }
    if (fault?.kind === 'declared-huge') {
      hit.status = 200
      res.writeHead(200, { 'content-length': String(50 * 1024 ** 3) })
      res.write('{')
      return
    }
    const file = join(root, ...path.split('/'))
    let body: Buffer
    try {
      if (!statSync(file).isFile()) throw new Error('not a file')
      body = readFileSync(file)
    } catch {
      hit.status = 404
      res.writeHead(404)
      res.end()
      return
    }
    const etag = `"${createHash('sha1').update(body).digest('hex')}"`
    const lastModified = new Date(Math.floor(statSync(file).mtimeMs / 1000) * 1000).toUTCString()
    if (req.headers['if-none-match'] === etag) {
      hit.status = 304
      res.writeHead(304, { etag })
      res.end()
      return
    }
    if (fault?.kind === 'truncate') body = body.subarray(0, Math.floor(body.length / 2))
    hit.status = 200
    res.writeHead(200, { etag, 'last-modified': lastModified, 'content-length': String(body.length) })
    if (fault?.kind === 'reset') {
      res.write(body.subarray(0, Math.floor(body.length / 2)))
      const t = setTimeout(() => req.socket.destroy(), 20)
      timers.add(t)
      return
    }
    res.end(body)
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    base: `http://127.0.0.1:${port}`,
    hits,
    faults,
    close: async () => {
      for (const t of timers) clearTimeout(t)
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
