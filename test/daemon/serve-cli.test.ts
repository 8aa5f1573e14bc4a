import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeFakeImage, startFakeRegistry, type FakeImage, type FakeRegistry } from '../image/fake-registry.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { HAS_NATS_SERVER, noteNatsMissing, startNats, type NatsServer } from '../helpers/nats.js'
import { ROOT } from '../helpers/shared.js'
import { freePort } from '../helpers/registry.js'
import { HAS_SMALL_IMAGE, JobClient, removeDir, SMALL_TARGET, startDaemonProcess, tempDir, type DaemonProcess } from './harness.js'

noteNatsMissing()

const serve = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [join(ROOT, 'bin', 'vigil.js'), 'serve', ...args], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH, ...env } })

describe.skipIf(!HAS_NATS_SERVER)('vigil serve: start-up errors and graceful shutdown', () => {
  let plain: NatsServer
  let js: NatsServer
  let image: FakeImage
  let registry: FakeRegistry
  const dirs: string[] = []
  const daemons: DaemonProcess[] = []

  beforeAll(async () => {
    ensureBuilt()
    ;[plain, js] = await Promise.all([startNats({ jetstream: false }), startNats()])
    image = await makeFakeImage()
    registry = await startFakeRegistry(image)
  }, 60_000)

  afterAll(async () => {
    // A failed assertion leaves a daemon running: SIGTERM lets it stop an embedded nats-server too.
    for (const d of daemons) await d.stop()
    await registry?.stop()
    await plain?.dispose()
    await js?.dispose()
    for (const d of dirs) await removeDir(d)
  })

  it('refuses a NATS server without JetStream (exit 2, and says so) and bad flags (exit 2)', async () => {
    const data = await tempDir('vigil-serve-')
    dirs.push(data)
    const noJs = serve(['--nats', plain.url, '--data', data, '--http', 'off'])
    expect(noJs.status).toBe(2)
    expect(noJs.stderr).toContain('ERR_BROKER_NO_JETSTREAM')
    expect(noJs.stderr).toMatch(/does not have JetStream enabled/)
    const bad = serve(['--nats', js.url, '--data', data, '--workers', 'many'])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('ERR_CONFIG')
    const badKey = serve(['--nats', js.url, '--data', data, '--http', 'off'], { VIGIL_SECRET_KEY: 'tooshort' })
    expect(badKey.status).toBe(2)
    expect(badKey.stderr).toMatch(/VIGIL_SECRET_KEY must be 32 bytes/)
  }, 30_000)

  it('with no --nats and nothing at the probe URL, starts an embedded nats-server -js under the data dir, says so, and stops it on exit', async () => {
    // VIGIL_NATS_PROBE_URL stands in for nats://127.0.0.1:4222, which belongs to the machine.
    const probe = `nats://127.0.0.1:${await freePort()}`
    const scratch = await tempDir('vigil-serve-')
    dirs.push(scratch)
    const missing = serve(['--data', scratch, '--http', 'off'], { VIGIL_NATS_PROBE_URL: probe, VIGIL_NATS_SERVER: '/nonexistent/nats-server' })
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain('apt-get install nats-server')
    const noJs = serve(['--data', scratch, '--http', 'off'], { VIGIL_NATS_PROBE_URL: plain.url })
    expect(noJs.status).toBe(2)
    expect(noJs.stderr).toContain('ERR_BROKER_NO_JETSTREAM')

    const daemon = await startDaemonProcess({ natsUrl: undefined, env: { VIGIL_NATS_PROBE_URL: probe } })
    daemons.push(daemon)
    dirs.push(daemon.dataDir)
    const line = await daemon.waitFor((l) => String(l.msg).includes('started an embedded nats-server -js'))
    expect(line.store).toBe(join(daemon.dataDir, 'nats'))
    const pid = line.pid as number
    expect(() => process.kill(pid, 0)).not.toThrow()
    if (HAS_SMALL_IMAGE) {
      const client = await JobClient.open(String(line.nats))
      await client.publish('vigil.jobs.scan', { id: 'embedded', target: SMALL_TARGET })
      await client.waitForResults((rs) => rs.some((r) => r.jobId === 'embedded'))
      expect(client.scanResults()[0]!.body.status).toBe('done')
      await client.close()
    }
    expect(await daemon.stop()).toBe(0)
    expect(() => process.kill(pid, 0)).toThrow()
  }, 40_000)

  it('heartbeats a long job; on SIGTERM stops pulling, hands an unfinished job back after the grace period, exits 0; a second replica finishes it', async () => {
    registry.fault = (req) => !!req.url?.includes(`/blobs/${image.layerDigest}`)
    const client = await JobClient.open(js.url)
    // ack_wait 1 s (this daemon creates the consumer): only working() heartbeats keep the hung job from redelivery.
    const first = await startDaemonProcess({ natsUrl: js.url, args: ['--grace-ms', '300', '--ack-wait-ms', '1000'] })
    daemons.push(first)
    dirs.push(first.dataDir)
    await client.publish('vigil.jobs.scan', { id: 'graceful', target: `${registry.host}/repo:tag` })
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => registry.hits.get(`/v2/repo/blobs/${image.layerDigest}`) && (clearInterval(poll), resolve()), 20)
    })
    await new Promise((r) => setTimeout(r, 2_500))
    const t0 = Date.now()
    expect(await first.stop()).toBe(0)
    expect(Date.now() - t0).toBeLessThan(10_000)
    expect(first.logs.some((l) => l.jobId === 'graceful' && String(l.msg).includes('handed back'))).toBe(true)
    expect(first.logs.some((l) => l.msg === 'stopped')).toBe(true)
    expect(client.scanResults()).toHaveLength(0)

    registry.fault = undefined
    const second = await startDaemonProcess({ natsUrl: js.url })
    daemons.push(second)
    dirs.push(second.dataDir)
    await client.waitForResults((rs) => rs.some((r) => r.jobId === 'graceful'), 20_000)
    expect(client.scanResults().map((r) => [r.jobId, r.body.status])).toEqual([['graceful', 'done']])
    // Delivered once to the first daemon (kept alive by heartbeats past 2 ack waits), once to the second.
    expect(client.scanResults()[0]!.body.deliveries).toBe(2)
    expect(await second.stop()).toBe(0)
    await client.close()
  }, 45_000)
})
