import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asStoreError, storeWrite } from '../../src/store/env.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { HAS_NATS_SERVER, noteNatsMissing, startNats, type NatsServer } from '../helpers/nats.js'
import { mountTmpfs, unmountTmpfs } from '../helpers/tmpfs.js'
import { getJson, HAS_SMALL_IMAGE, JobClient, noteCorpusMissing, SMALL_TARGET, startDaemonProcess, type DaemonProcess } from './harness.js'

noteNatsMissing()
noteCorpusMissing()

const MOUNT = HAS_NATS_SERVER && HAS_SMALL_IMAGE ? mountTmpfs(64, 'daemon disk-full test') : undefined

/** Writes zeros until the filesystem says ENOSPC. */
function fill(path: string): void {
  const fd = openSync(path, 'w')
  const chunk = Buffer.alloc(256 * 1024)
  try {
    for (;;) writeSync(fd, chunk)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
  } finally {
    closeSync(fd)
  }
}

/**
 * The daemon's data dir on a 64 MiB tmpfs that the test fills: every store write fails with
 * ENOSPC. Jobs and deltas must fail with ERR_STORE (retryable), the daemon must keep serving, and
 * once space is back the same work goes through.
 */
describe.skipIf(!MOUNT)('a full disk under the store', () => {
  let nats: NatsServer
  let client: JobClient
  let daemon: DaemonProcess
  const filler = join(MOUNT ?? '/nonexistent', 'filler')

  beforeAll(async () => {
    ensureBuilt()
    nats = await startNats()
    client = await JobClient.open(nats.url)
    const data = join(MOUNT!, 'data')
    mkdirSync(data)
    daemon = await startDaemonProcess({ natsUrl: nats.url, dataDir: data, args: ['--max-deliveries', '3', '--retry-base-ms', '200', '--retry-max-ms', '400'] })
  }, 60_000)

  afterAll(async () => {
    await client?.close()
    await daemon?.kill9()
    await nats?.dispose()
    if (MOUNT) unmountTmpfs(MOUNT)
  })

  it('fails store writes with ERR_STORE, retryable, logged; keeps serving; recovers when space is back', async () => {
    fill(filler)
    await client.publish('vigil.jobs.scan', { id: 'on-full-disk', target: SMALL_TARGET })
    await client.publish('vigil.feed.delta', { withdrawn: ['CVE-2099-5000'] })
    await client.waitForResults((rs) => rs.some((r) => r.jobId === 'on-full-disk'), 30_000)
    const [full] = client.scanResults().filter((r) => r.jobId === 'on-full-disk')
    expect(full!.body).toMatchObject({ status: 'failed', error: { code: 'ERR_STORE' }, deliveries: 3 })
    expect(daemon.logs.some((l) => l.code === 'ERR_STORE')).toBe(true)
    await sleep(1_000)
    expect(daemon.child.exitCode).toBeNull()
    expect((await getJson(`${daemon.httpUrl}/healthz`)).status).toBe(200)

    rmSync(filler)
    await client.publish('vigil.jobs.scan', { id: 'after-full-disk', target: SMALL_TARGET })
    await client.waitForResults((rs) => rs.some((r) => r.jobId === 'after-full-disk'), 60_000)
    expect(client.scanResults().find((r) => r.jobId === 'after-full-disk')!.body).toMatchObject({ status: 'done' })
    await daemon.waitFor((l) => l.msg === 'feed delta applied', 30_000)
    // After the first failed write the daemon stopped writing until there was room (store-gate.ts).
    const text = daemon.logs.map((l) => JSON.stringify(l))
    expect(text.some((t) => t.includes('no store writes until the disk'))).toBe(true)
    expect(text.some((t) => t.includes('store writes resume'))).toBe(true)
    // The delta was waited out, not dead-lettered: the disk was the problem, not the delta.
    // (lmdb-js also writes its own unterminated "Write error" text to stderr, so lines are searched as text.)
    expect(daemon.logs.some((l) => /feed delta not applied; will be redelivered/.test(JSON.stringify(l)) && /ERR_STORE/.test(JSON.stringify(l)))).toBe(true)
    expect(daemon.logs.some((l) => l.msg.includes('feed delta refused'))).toBe(false)
  }, 150_000)
})

describe('store fault classification', () => {
  it('makes faults of the disk ERR_STORE (retryable) and leaves faults of the data alone', async () => {
    const enospc = Object.assign(new Error('No space left on device: Attempting to write page at position 147456'), { code: 28 })
    expect(asStoreError(enospc)?.toRecord()).toMatchObject({ code: 'ERR_STORE', retryable: true })
    expect(asStoreError(Object.assign(new Error('write failed'), { code: 'EIO' }))?.code).toBe('ERR_STORE')
    expect(asStoreError(new Error('Key size is larger than the maximum key size (1978)'))).toBeUndefined()
    expect(asStoreError(new RangeError('String does not fit in target buffer'))).toBeUndefined()

    // lmdb-js's failed async commit: the cause sits in a second rejected promise, handled here.
    const commitError = Promise.reject(enospc)
    const failed = Object.assign(new Error('Commit failed (see commitError for details)'), { commitError })
    await expect(storeWrite(Promise.reject(failed))).rejects.toMatchObject({ code: 'ERR_STORE', message: expect.stringContaining('No space left') })
  })
})
