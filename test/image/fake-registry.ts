import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { gzipSync } from 'node:zlib'
import { makeTar, sha } from './tarfixture.js'

/**
 * A scripted HTTP server speaking just enough of the distribution API to inject faults (5xx, resets,
 * hangs, wrong bytes) that a real registry never produces on demand. Real-registry behaviour is
 * tested against docker-registry itself (registry*.test.ts).
 */
export interface FakeImage {
  manifest: Buffer
  manifestDigest: string
  config: Buffer
  configDigest: string
  layer: Buffer
  layerDigest: string
}

export async function makeFakeImage(): Promise<FakeImage> {
  const tar = await makeTar([{ name: 'etc/os-release', data: 'ID=fake\n' }])
  const layer = gzipSync(tar)
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [sha(tar)] } }))
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
    }),
  )
  return { manifest, manifestDigest: sha(manifest), config, configDigest: sha(config), layer, layerDigest: sha(layer) }
}

/** Return true when the request was answered; false lets the default route answer. */
export type Fault = (req: IncomingMessage, res: ServerResponse, hit: number) => boolean

export interface FakeRegistry {
  host: string
  url: string
  /** Requests per path. */
  hits: Map<string, number>
  authHeaders: (string | undefined)[]
  /** TCP connections accepted. */
  connections: number
  fault: Fault | undefined
  stop(): Promise<void>
}

/** Listens on `address` (a loopback address; 127.0.0.1 unless said) and `port` (a free one unless said). */
export async function startFakeRegistry(image: FakeImage, address = '127.0.0.1', port = 0): Promise<FakeRegistry> {
  const state: FakeRegistry = { host: '', url: '', hits: new Map(), authHeaders: [], connections: 0, fault: undefined, stop: async () => undefined }
  const server: Server = createServer((req, res) => {
    const hit = (state.hits.get(req.url ?? '/') ?? 0) + 1
    state.hits.set(req.url ?? '/', hit)
    state.authHeaders.push(req.headers.authorization)
    if (state.fault?.(req, res, hit)) return
    const path = (req.url ?? '/').split('?')[0]
    const send = (type: string, body: Buffer, extra: Record<string, string> = {}) => {
      res.writeHead(200, { 'content-type': type, 'content-length': String(body.length), ...extra })
      res.end(req.method === 'HEAD' ? undefined : body)
    }
    if (path === '/v2/') return send('application/json', Buffer.from('{}'))
    if (path === '/v2/repo/manifests/tag' || path === `/v2/repo/manifests/${image.manifestDigest}`) {
      return send('application/vnd.oci.image.manifest.v1+json', image.manifest, { 'docker-content-digest': image.manifestDigest })
    }
    if (path === `/v2/repo/blobs/${image.configDigest}`) return send('application/octet-stream', image.config)
    if (path === `/v2/repo/blobs/${image.layerDigest}`) return send('application/octet-stream', image.layer)
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
  })
  server.on('connection', () => state.connections++)
  await new Promise<void>((resolve) => server.listen(port, address, resolve))
  const addr = server.address()
  const bound = typeof addr === 'object' && addr ? addr.port : 0
  state.host = `${address}:${bound}`
  state.url = `http://${address}:${bound}`
  state.stop = () => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(() => resolve()))
  }
  return state
}
