import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bindingForTarget, encryptSecret } from '../../src/secrets.js'
import { makeFakeImage, startFakeRegistry, type FakeImage, type FakeRegistry } from '../image/fake-registry.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { HAS_NATS_SERVER, noteNatsMissing, startNats, type NatsServer } from '../helpers/nats.js'
import { HAS_SMALL_IMAGE, JobClient, noteCorpusMissing, removeDir, SMALL_TARGET, startDaemonProcess, TEST_SECRET_KEY, type DaemonProcess } from './harness.js'

noteNatsMissing()
noteCorpusMissing()

/**
 * Delivery rules against a real nats-server and a daemon child process: bad messages, registry
 * faults with retries, permanent failures, credentials, and a redelivered job for a stored image.
 */
describe.skipIf(!HAS_NATS_SERVER || !HAS_SMALL_IMAGE)('daemon delivery rules', () => {
  let nats: NatsServer
  let daemon: DaemonProcess
  let client: JobClient
  let image: FakeImage
  const registries: FakeRegistry[] = []

  beforeAll(async () => {
    ensureBuilt()
    image = await makeFakeImage()
    nats = await startNats()
    daemon = await startDaemonProcess({
      natsUrl: nats.url,
      args: ['--max-deliveries', '3', '--retry-base-ms', '200', '--retry-max-ms', '400', '--job-timeout-ms', '3000', '--max-message-bytes', '4096', '--concurrency', '6'],
    })
    client = await JobClient.open(nats.url)
  }, 60_000)

  afterAll(async () => {
    await client?.close()
    await daemon?.stop()
    for (const r of registries) await r.stop()
    await nats?.dispose()
    if (daemon) await removeDir(daemon.dataDir)
  })

  const registry = async (fault?: FakeRegistry['fault']) => {
    const r = await startFakeRegistry(image)
    r.fault = fault
    registries.push(r)
    return r
  }
  const resultFor = async (id: string, timeoutMs = 30_000) => {
    await client.waitForResults((rs) => rs.some((r) => r.jobId === id && r.subject === 'vigil.results.scan'), timeoutMs)
    return client.scanResults().filter((r) => r.jobId === id)
  }

  it('ends malformed, oversized and wrong-schema messages: answers those with an id, dead-letters every one, and keeps serving', async () => {
    await client.publishRaw('vigil.jobs.scan', Buffer.from('{"id": "broken'), 'application/json')
    await client.publishRaw('vigil.jobs.scan', Buffer.from([0xc1, 0xc1, 0xc1]))
    await client.publish('vigil.jobs.scan', { id: 'huge', target: SMALL_TARGET, pad: 'x'.repeat(8000) })
    await client.publish('vigil.jobs.scan', { id: 'bad-schema', target: 42 }, 'json')
    await client.publish('vigil.jobs.scan', { v: 7, id: 'bad-version', target: SMALL_TARGET })
    await client.publish('vigil.jobs.reassess', { id: 'bad-reassess', digests: ['nope'] })
    await client.publish('vigil.jobs.scan', { id: 'good-after-bad', target: SMALL_TARGET }, 'json')

    const [good] = await resultFor('good-after-bad')
    expect(good!.body).toMatchObject({ id: 'good-after-bad', status: 'done', v: 1 })
    expect(good!.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect((good!.body.summary as Record<string, number>).CRITICAL).toBeTypeOf('number')

    for (const id of ['bad-schema', 'bad-version']) {
      const [r] = await resultFor(id)
      expect(r!.body).toMatchObject({ id, status: 'failed', error: { code: 'ERR_MESSAGE_INVALID' } })
    }
    await client.waitForResults((rs) => rs.some((r) => r.subject === 'vigil.results.reassess' && r.jobId === 'bad-reassess'))
    // JSON in, JSON out: the bad-schema job was JSON, so its result is too (decoded via the header).
    expect(client.scanResults().find((r) => r.jobId === 'bad-schema')!.body.id).toBe('bad-schema')

    const dlq = await client.streamMessages('VIGIL_DLQ')
    expect(dlq.map((m) => m.subject).sort()).toEqual(['vigil.dlq.vigil.jobs.reassess', ...Array(5).fill('vigil.dlq.vigil.jobs.scan')])
    const lines = daemon.logs.filter((l) => l.msg.includes('dead-lettered'))
    expect(lines.map((l) => l.code).sort()).toEqual([...Array(5).fill('ERR_MESSAGE_INVALID'), 'ERR_MESSAGE_TOO_LARGE'])
  }, 40_000)

  it('retries registry 500s, hangs and resets with backoff, then answers failed with a clear code; a 404 fails at once', async () => {
    const fail500 = await registry((req, res) => (req.url?.includes('/manifests/') ? (res.writeHead(500).end(), true) : false))
    const hang = await registry((req) => !!req.url?.includes('/manifests/'))
    const reset = await registry((req) => (req.url?.includes('/manifests/') ? (req.socket.destroy(), true) : false))
    const fine = await registry()
    await client.publish('vigil.jobs.scan', { id: 'r500', target: `${fail500.host}/repo:tag` })
    await client.publish('vigil.jobs.scan', { id: 'rhang', target: `${hang.host}/repo:tag` })
    await client.publish('vigil.jobs.scan', { id: 'rreset', target: `${reset.host}/repo:tag` })
    await client.publish('vigil.jobs.scan', { id: 'r404', target: `${fine.host}/repo:missing` })

    const [r404] = await resultFor('r404')
    expect(r404!.body).toMatchObject({ status: 'failed', error: { code: 'ERR_TARGET_NOT_FOUND' }, deliveries: 1 })
    const [r500] = await resultFor('r500', 40_000)
    expect(r500!.body).toMatchObject({ status: 'failed', error: { code: 'ERR_REGISTRY_UNAVAILABLE' }, deliveries: 3 })
    expect(fail500.hits.get('/v2/repo/manifests/tag')).toBeGreaterThanOrEqual(3 * 2)
    const [rreset] = await resultFor('rreset', 40_000)
    expect(rreset!.body).toMatchObject({ status: 'failed', error: { code: 'ERR_REGISTRY_UNAVAILABLE' }, deliveries: 3 })
    const [rhang] = await resultFor('rhang', 40_000)
    expect(rhang!.body).toMatchObject({ status: 'failed', error: { code: 'ERR_TIMEOUT' }, deliveries: 3 })
    expect(hang.hits.get('/v2/repo/manifests/tag')).toBe(3)

    // The retryable ones went to the dead-letter subject after their last delivery, with why.
    const dlq = await client.streamMessages('VIGIL_DLQ')
    expect(dlq.length).toBe(6 + 3)
    const retries = daemon.logs.filter((l) => l.msg.includes('will retry') && ['r500', 'rhang', 'rreset'].includes(String(l.jobId)))
    expect(retries.length).toBe(6)
    expect(retries.filter((l) => l.jobId === 'r500').map((l) => l.retryInMs)).toEqual([200, 400])
  }, 60_000)

  it('decrypts registry credentials in memory only: they reach the registry, never the log', async () => {
    const password = 'pa55-word-never-logged'
    const expected = `Basic ${Buffer.from(`alice:${password}`).toString('base64')}`
    const guarded = await registry((req, res) => {
      if (req.headers.authorization === expected) return false
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end()
      return true
    })
    await client.publish('vigil.jobs.scan', { id: 'creds', target: `${guarded.host}/repo:tag`, credentials: encryptSecret(JSON.stringify({ username: 'alice', password }), TEST_SECRET_KEY, bindingForTarget(`${guarded.host}/repo:tag`)) })
    await client.publish('vigil.jobs.scan', { id: 'creds-wrong-key', target: `${guarded.host}/repo:tag`, credentials: encryptSecret('{"token":"t"}', Buffer.alloc(32, 9), bindingForTarget(`${guarded.host}/repo:tag`)) })
    const [ok] = await resultFor('creds')
    expect(ok!.body).toMatchObject({ status: 'done', digest: image.manifestDigest })
    const [bad] = await resultFor('creds-wrong-key')
    expect(bad!.body).toMatchObject({ status: 'failed', error: { code: 'ERR_SECRET' }, deliveries: 1 })
    const everything = JSON.stringify(daemon.logs)
    expect(everything).not.toContain(password)
    expect(everything).not.toContain(expected.slice(6))
    // Nor the store: the LMDB file holds the image, never the secret (plain or as a Basic header).
    const lmdb = await readFile(join(daemon.dataDir, 'store', 'data.mdb'))
    expect(lmdb.includes(image.manifestDigest)).toBe(true)
    expect(lmdb.includes(password)).toBe(false)
    expect(lmdb.includes(expected.slice(6))).toBe(false)
  }, 30_000)

  it('answers a new job for an image already indexed from the store with one manifest GET; a used job id gets no second result', async () => {
    // The credentials test above indexed this image; a new registry serving it sees no blob request.
    const served = await registry()
    await client.publish('vigil.jobs.scan', { id: 'no-pull', target: `${served.host}/repo:tag` })
    const [again] = await resultFor('no-pull')
    expect(again!.body).toMatchObject({ status: 'done', fromStore: true, digest: image.manifestDigest })
    expect([...served.hits.keys()]).toEqual(['/v2/repo/manifests/tag'])
    expect(again!.body.reference).toBe(`${served.host}/repo:tag`)
    // Pinned by digest: not even the manifest is fetched.
    await client.publish('vigil.jobs.scan', { id: 'pinned', target: `${served.host}/repo@${image.manifestDigest}` })
    expect((await resultFor('pinned'))[0]!.body).toMatchObject({ status: 'done', fromStore: true })
    expect([...served.hits.keys()]).toEqual(['/v2/repo/manifests/tag'])

    await client.publish('vigil.jobs.scan', { id: 'no-pull', target: `${served.host}/repo:tag` })
    await daemon.waitFor((l) => l.jobId === 'no-pull' && l.msg.startsWith('result already published'))
    expect(client.scanResults().filter((r) => r.jobId === 'no-pull')).toHaveLength(1)
  }, 30_000)
})
