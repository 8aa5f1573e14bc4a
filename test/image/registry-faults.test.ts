import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createDigestVerifier, openBlobStream } from '../../src/image/digest.js'
import { resolveImage } from '../../src/image/resolve.js'
import type { BlobLocator, RetryPolicy } from '../../src/image/types.js'
import { makeFakeImage, startFakeRegistry, type FakeImage, type FakeRegistry } from './fake-registry.js'

const FAST: RetryPolicy = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 }
let image: FakeImage
let fake: FakeRegistry
let other: FakeRegistry

beforeAll(async () => {
  image = await makeFakeImage()
  fake = await startFakeRegistry(image)
  other = await startFakeRegistry(image)
})
afterAll(async () => {
  await fake.stop()
  await other.stop()
})
beforeEach(() => {
  fake.fault = undefined
  fake.hits.clear()
  fake.authHeaders.length = 0
  other.fault = undefined
  other.authHeaders.length = 0
})

const drain = (locator: BlobLocator, digest: string) =>
  pipeline(openBlobStream(locator, { retry: FAST }), createDigestVerifier(digest), new Writable({ write: (_c, _e, done) => done() }))

describe('registry faults (scripted server)', () => {
  it('500 then 200 → success after a retry', async () => {
    fake.fault = (req, res, hit) => req.url === '/v2/repo/manifests/tag' && hit === 1 && (res.writeHead(500).end(), true)
    const resolved = await resolveImage(`${fake.host}/repo:tag`, { retry: FAST })
    expect(resolved.digest).toBe(image.manifestDigest)
    expect(fake.hits.get('/v2/repo/manifests/tag')).toBe(2)
    await drain(resolved.layers[0]!.locator, resolved.layers[0]!.digest)
  })

  it('always 500 → ERR_REGISTRY_UNAVAILABLE, retryable, after the bounded number of attempts', async () => {
    fake.fault = (_req, res) => (res.writeHead(503).end(), true)
    const err = await resolveImage(`${fake.host}/repo:tag`, { retry: FAST }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_REGISTRY_UNAVAILABLE', retryable: true })
    expect(fake.hits.get('/v2/repo/manifests/tag')).toBe(FAST.attempts)
  })

  it('a reset connection and a hung response are retried', async () => {
    fake.fault = (req, res, hit) => {
      if (req.url !== '/v2/repo/manifests/tag') return false
      if (hit === 1) return res.socket?.destroy(), true
      if (hit === 2) return true // never answers: the header timeout fires
      return false
    }
    const resolved = await resolveImage(`${fake.host}/repo:tag`, { retry: FAST, timeoutMs: 1000 })
    expect(resolved.digest).toBe(image.manifestDigest)
    expect(fake.hits.get('/v2/repo/manifests/tag')).toBe(3)
  })

  it('nothing listening → ERR_REGISTRY_UNAVAILABLE (retryable)', async () => {
    const { freePort } = await import('../helpers/registry.js')
    await expect(resolveImage(`127.0.0.1:${await freePort()}/repo:tag`, { retry: FAST })).rejects.toMatchObject({ code: 'ERR_REGISTRY_UNAVAILABLE', retryable: true })
  })

  it('404 → ERR_TARGET_NOT_FOUND; 403 → ERR_REGISTRY_AUTH', async () => {
    await expect(resolveImage(`${fake.host}/repo:nope`, { retry: FAST })).rejects.toMatchObject({ code: 'ERR_TARGET_NOT_FOUND' })
    fake.fault = (_req, res) => (res.writeHead(403).end(), true)
    await expect(resolveImage(`${fake.host}/repo:tag`, { retry: FAST })).rejects.toMatchObject({ code: 'ERR_REGISTRY_AUTH' })
  })

  it('a blob whose bytes do not match its digest → ERR_DIGEST_MISMATCH while streaming', async () => {
    const resolved = await resolveImage(`${fake.host}/repo:tag`, { retry: FAST })
    fake.fault = (req, res) => req.url === `/v2/repo/blobs/${image.layerDigest}` && (res.writeHead(200).end(Buffer.concat([image.layer, Buffer.from('x')])), true)
    await expect(drain(resolved.layers[0]!.locator, resolved.layers[0]!.digest)).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' })
  })

  it('a config or manifest whose bytes do not match → ERR_DIGEST_MISMATCH at resolve time', async () => {
    fake.fault = (req, res) => req.url === `/v2/repo/blobs/${image.configDigest}` && (res.writeHead(200).end(Buffer.from('{"os":"linux"}')), true)
    await expect(resolveImage(`${fake.host}/repo:tag`, { retry: FAST })).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' })
    const wrong = `sha256:${'0'.repeat(64)}`
    fake.fault = (req, res) => req.url === `/v2/repo/manifests/${wrong}` && (res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(image.manifest), true)
    await expect(resolveImage(`${fake.host}/repo@${wrong}`, { retry: FAST })).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' })
    fake.fault = (req, res) => req.url === '/v2/repo/manifests/tag' && (res.writeHead(200, { 'docker-content-digest': wrong }).end(image.manifest), true)
    await expect(resolveImage(`${fake.host}/repo:tag`, { retry: FAST })).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' })
  })

  it('blob streams: 500 then 200 is retried; 401 asks for re-auth; 404 is not found', async () => {
    const locator: BlobLocator = { kind: 'http', url: `${fake.url}/v2/repo/blobs/${image.layerDigest}`, headers: {} }
    fake.fault = (req, res, hit) => req.url === `/v2/repo/blobs/${image.layerDigest}` && hit === 1 && (res.writeHead(502).end(), true)
    await drain(locator, image.layerDigest)
    fake.fault = (_req, res) => (res.writeHead(401).end(), true)
    await expect(drain(locator, image.layerDigest)).rejects.toMatchObject({ code: 'ERR_REGISTRY_AUTH', details: { reauth: true } })
    fake.fault = undefined
    await expect(drain({ ...locator, url: `${fake.url}/v2/repo/blobs/sha256:${'1'.repeat(64)}` }, image.layerDigest)).rejects.toMatchObject({ code: 'ERR_TARGET_NOT_FOUND' })
  })

  it('a redirect to another origin drops the Authorization header; same origin keeps it', async () => {
    const path = `/v2/repo/blobs/${image.layerDigest}`
    fake.fault = (req, res) => req.url === path && (res.writeHead(307, { location: `${other.url}${path}` }).end(), true)
    await drain({ kind: 'http', url: `${fake.url}${path}`, headers: { authorization: 'Bearer secret-token' } }, image.layerDigest)
    expect(fake.authHeaders).toEqual(['Bearer secret-token'])
    expect(other.authHeaders).toEqual([undefined])
    fake.fault = (req, res) => req.url === path && (res.writeHead(307, { location: `/v2/repo/blobs/${image.layerDigest}?moved=1` }).end(), true)
    fake.authHeaders.length = 0
    await drain({ kind: 'http', url: `${fake.url}${path}`, headers: { authorization: 'Bearer secret-token' } }, image.layerDigest)
    expect(fake.authHeaders).toEqual(['Bearer secret-token', 'Bearer secret-token'])
  })

  it('a file locator streams its byte range and fails on a missing file', async () => {
    await expect(drain({ kind: 'file', path: '/nonexistent/blob' }, image.layerDigest)).rejects.toMatchObject({ code: 'ERR_TARGET_NOT_FOUND' })
  })
})
