import { createReadStream } from 'node:fs'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Readable } from 'node:stream'
import { VigilError } from '../errors.js'
import type { BlobLocator } from '../image/types.js'

const MAX_REDIRECTS = 5
const READ_CHUNK = 256 * 1024

/**
 * Opens a blob where the worker can stream it: a file (or a byte range of one, for a layer inside
 * a docker-archive) or a registry URL. Written here rather than imported from src/image because
 * the worker needs only this much and must not pull the registry client (auth, retries) into
 * every worker thread; the main thread has already negotiated the Authorization header.
 */
export async function openBlob(locator: BlobLocator): Promise<Readable> {
  if (locator.kind === 'file') {
    const start = locator.offset ?? 0
    const end = locator.length === undefined ? undefined : start + locator.length - 1
    const stream = createReadStream(locator.path, { start, ...(end === undefined ? {} : { end }), highWaterMark: READ_CHUNK })
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve())
      stream.once('error', (err: NodeJS.ErrnoException) =>
        reject(new VigilError(err.code === 'ENOENT' ? 'ERR_TARGET_NOT_FOUND' : 'ERR_ARCHIVE_INVALID', `cannot read blob ${locator.path}: ${err.message}`, { cause: err })),
      )
    })
    return stream
  }
  return getFollowingRedirects(new URL(locator.url), locator.headers, MAX_REDIRECTS)
}

function getFollowingRedirects(url: URL, headers: Record<string, string>, redirectsLeft: number): Promise<Readable> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : url.protocol === 'http:' ? httpRequest : undefined
    if (!request) return reject(new VigilError('ERR_TARGET_INVALID', `unsupported blob URL scheme: ${url.protocol}`))
    const req = request(url, { method: 'GET', headers }, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400 && res.headers.location && redirectsLeft > 0) {
        res.resume()
        const next = new URL(res.headers.location, url)
        // Blob redirects go to storage hosts (S3, CDN) that must not see the registry's token.
        const nextHeaders = next.host === url.host ? headers : withoutAuthorization(headers)
        resolve(getFollowingRedirects(next, nextHeaders, redirectsLeft - 1))
        return
      }
      if (status !== 200) {
        res.resume()
        const code = status === 401 || status === 403 ? 'ERR_REGISTRY_AUTH' : status === 404 ? 'ERR_TARGET_NOT_FOUND' : status >= 500 ? 'ERR_REGISTRY_UNAVAILABLE' : 'ERR_REGISTRY_PROTOCOL'
        reject(new VigilError(code, `GET ${url.origin}${url.pathname} answered ${status}`))
        return
      }
      resolve(res)
    })
    req.on('error', (err) => reject(new VigilError('ERR_REGISTRY_UNAVAILABLE', `GET ${url.origin}${url.pathname}: ${err.message}`, { cause: err })))
    req.end()
  })
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== 'authorization') out[k] = v
  return out
}
