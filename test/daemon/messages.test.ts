import { pack } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { parseDaemonConfig, resolveReplicas, retryDelayMs } from '../../src/daemon/config.js'
import { decodeBytes, encode, encodingOf, salvageJobId, validate } from '../../src/daemon/messages.js'

const DIGEST = `sha256:${'a'.repeat(64)}`
const hdr = (type?: string) => ({ get: (k: string) => (k.toLowerCase() === 'content-type' ? type ?? '' : '') })

describe('message codec', () => {
  it('is msgpack unless Content-Type says application/json, both ways', () => {
    expect(encodingOf(undefined)).toBe('msgpack')
    expect(encodingOf(hdr('application/json; charset=utf-8'))).toBe('json')
    expect(encodingOf(hdr('application/msgpack'))).toBe('msgpack')
    const job = { id: 'j1', target: 'oci:/x' }
    expect(decodeBytes(encode(job, 'msgpack'), 'msgpack', 1024)).toEqual(job)
    expect(decodeBytes(encode(job, 'json'), 'json', 1024)).toEqual(job)
  })

  it('refuses what does not decode, trailing bytes, empty and oversized payloads with stable codes', () => {
    expect(() => decodeBytes(Buffer.from('{"id":'), 'json', 1024)).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_INVALID' }))
    expect(() => decodeBytes(pack({ id: 'abcdef' }).subarray(0, 5), 'msgpack', 1024)).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_INVALID' }))
    // 0xc1 is never used by msgpack; whatever it decodes to, no schema accepts it.
    expect(() => validate('scan', decodeBytes(Buffer.from([0xc1]), 'msgpack', 1024))).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_INVALID' }))
    expect(() => decodeBytes(Buffer.concat([pack({ id: 'a' }), Buffer.from('junk')]), 'msgpack', 1024)).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_INVALID' }))
    expect(() => decodeBytes(new Uint8Array(0), 'msgpack', 1024)).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_INVALID' }))
    expect(() => decodeBytes(new Uint8Array(2048), 'msgpack', 1024)).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_TOO_LARGE' }))
  })
})

describe('job schemas', () => {
  it('accepts the minimal JSON job of DESIGN.md (no v means 1) and Harbor-style jobs', () => {
    expect(validate('scan', { id: 'j1', target: 'oci:/data/img' })).toEqual({ id: 'j1', target: 'oci:/data/img' })
    expect(validate('scan', { v: 1, id: 'h1', registry: { url: 'http://core:8080', authorization: 'v1.x' }, artifact: { repository: 'library/app', digest: DIGEST, mime_type: 'application/vnd.oci.image.manifest.v1+json' } }).id).toBe('h1')
    expect(validate('reassess', { id: 'r1', all: true }).all).toBe(true)
    expect(validate('reassess', { id: 'r2', digests: [DIGEST] }).digests).toEqual([DIGEST])
    expect(validate('feed', { withdrawn: ['GHSA-1'] }).withdrawn).toEqual(['GHSA-1'])
  })

  it('refuses wrong shapes, unknown versions and mixed image names with ERR_MESSAGE_INVALID', () => {
    const bad: [string, unknown][] = [
      ['scan', { target: 'oci:/x' }],
      ['scan', { id: 'j', target: 42 }],
      ['scan', { v: 2, id: 'j', target: 'oci:/x' }],
      ['scan', { id: 'j' }],
      ['scan', { id: 'j', target: 'oci:/x', registry: { url: 'http://r' }, artifact: { repository: 'a', tag: 't' } }],
      ['scan', { id: 'j', registry: { url: 'http://r' }, artifact: { repository: 'a' } }],
      ['scan', { id: 'j', target: 'oci:/x', extra: true }],
      ['reassess', { id: 'r', digests: ['sha256:short'] }],
      ['reassess', { id: 'r', all: true, digests: [DIGEST] }],
      ['feed', {}],
      ['feed', { epss: { 'CVE-1': { epss: 2, percentile: 0.5 } } }],
    ]
    for (const [kind, value] of bad) expect(() => validate(kind as 'scan', value), JSON.stringify(value)).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_INVALID' }))
    expect(salvageJobId({ id: 'j', target: 42 })).toBe('j')
    expect(salvageJobId([1, 2])).toBeUndefined()
  })
})

describe('daemon configuration', () => {
  it('has documented defaults and is frozen', () => {
    const c = parseDaemonConfig({ data: '/tmp/vigil-x' }, {})
    expect(c.natsUrl).toBeUndefined()
    expect(c.http).toEqual({ host: '127.0.0.1', port: 8080 })
    expect(c.maxDeliveries).toBe(5)
    expect(c.concurrency).toBe(c.workers * 2)
    expect(c.replicaId).toMatch(/^[A-Za-z0-9_-]+-[0-9a-f]{8}$/)
    expect(Object.isFrozen(c) && Object.isFrozen(c.http)).toBe(true)
    expect(parseDaemonConfig({ data: '/tmp/vigil-x' }, { NATS_URL: 'nats://h:4333', VIGIL_REPLICA_ID: 'r1' })).toMatchObject({ natsUrl: 'nats://h:4333', replicaId: 'r1' })
    expect(parseDaemonConfig({ http: 'off' }, {}).http).toBeUndefined()
  })

  it('refuses bad values with ERR_CONFIG', () => {
    for (const flags of [{ workers: '0' }, { workers: 'two' }, { http: 'localhost' }, { nats: 'http://x:1' }, { 'replica-id': 'a b' }, { 'log-level': 'loud' }, { 'retry-base-ms': '500', 'retry-max-ms': '100' }]) {
      expect(() => parseDaemonConfig(flags, {}), JSON.stringify(flags)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }))
    }
  })

  it('takes --replicas / VIGIL_REPLICAS (1-5); without them the cluster size decides: 3 from 3 servers, else 1', () => {
    expect(parseDaemonConfig({ data: '/tmp/vigil-x' }, {}).replicas).toBeUndefined()
    expect(parseDaemonConfig({ data: '/tmp/vigil-x' }, { VIGIL_REPLICAS: '3' }).replicas).toBe(3)
    expect(parseDaemonConfig({ data: '/tmp/vigil-x', replicas: '1' }, { VIGIL_REPLICAS: '3' }).replicas).toBe(1)
    expect(parseDaemonConfig({ data: '/tmp/vigil-x' }, {}).reconcileMs).toBe(15 * 60_000)
    expect(parseDaemonConfig({ data: '/tmp/vigil-x', 'reconcile-ms': '0' }, {}).reconcileMs).toBe(0)
    for (const replicas of ['0', '6', 'three']) expect(() => parseDaemonConfig({ replicas }, {}), replicas).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }))
    expect([1, 2, 3, 5].map((n) => resolveReplicas(undefined, n))).toEqual([1, 1, 3, 3].map((replicas) => ({ replicas, explicit: false })))
    expect(resolveReplicas(2, 5)).toEqual({ replicas: 2, explicit: true })
  })

  it('backs off exponentially per delivery, capped', () => {
    const c = { retryBaseMs: 100, retryMaxMs: 1000 }
    expect([1, 2, 3, 4, 5, 9].map((d) => retryDelayMs(c, d))).toEqual([100, 200, 400, 800, 1000, 1000])
  })
})

describe('job targets and credentials', async () => {
  const { jobTarget } = await import('../../src/daemon/scan.js')
  const { bindingForRegistry, bindingForTarget, encryptSecret } = await import('../../src/secrets.js')
  const key = Buffer.alloc(32, 5)
  const forApp = bindingForTarget('reg.example/app:1')

  it('turns a Harbor registry + artifact into a target and its encrypted Authorization into credentials', () => {
    const basic = `Basic ${Buffer.from('robot$scan:s3cret:with:colons').toString('base64')}`
    const job = { id: 'h', registry: { url: 'http://core:8080/', authorization: encryptSecret(basic, key, bindingForRegistry('http://core:8080/', 'library/app')) }, artifact: { repository: 'library/app', digest: DIGEST } }
    expect(jobTarget(job, key)).toEqual({ target: `http://core:8080/library/app@${DIGEST}`, auth: { kind: 'basic', username: 'robot$scan', password: 's3cret:with:colons' } })
    const bearer = { id: 'h2', registry: { url: 'https://harbor.example', authorization: encryptSecret('Bearer eyJhbGciOi', key, bindingForRegistry('https://harbor.example', 'team/app')) }, artifact: { repository: 'team/app', tag: '1.2' } }
    expect(jobTarget(bearer, key)).toEqual({ target: 'https://harbor.example/team/app:1.2', auth: { kind: 'bearer', token: 'eyJhbGciOi' } })
  })

  it('reads encrypted credentials JSON, and refuses what does not decrypt or parse with ERR_SECRET', () => {
    expect(jobTarget({ id: 'c', target: 'reg.example/app:1', credentials: encryptSecret('{"username":"u","password":"p"}', key, forApp) }, key).auth).toEqual({ kind: 'basic', username: 'u', password: 'p' })
    expect(jobTarget({ id: 'c', target: 'oci:/x' }, key)).toEqual({ target: 'oci:/x' })
    for (const credentials of [encryptSecret('not json', key, forApp), encryptSecret('{"user":"u"}', key, forApp), 'plain-text', encryptSecret('{"token":"t"}', Buffer.alloc(32, 6), forApp)]) {
      expect(() => jobTarget({ id: 'c', target: 'reg.example/app:1', credentials }, key)).toThrow(expect.objectContaining({ code: 'ERR_SECRET' }))
    }
    expect(() => jobTarget({ id: 'h', registry: { url: 'http://r', authorization: encryptSecret('Digest abc', key, bindingForRegistry('http://r', 'a')) }, artifact: { repository: 'a', tag: 't' } }, key)).toThrow(expect.objectContaining({ code: 'ERR_SECRET' }))
  })
})
