import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exposureWarning } from '../../src/http/server.js'
import { JobClient, removeDir, startDaemonProcess, tempDir, type DaemonProcess } from '../daemon/harness.js'
import { HAS_NATS_SERVER, noteNatsMissing, startNats, type NatsServer } from '../helpers/nats.js'
import { freePort } from '../helpers/registry.js'
import { HAS_SHARED, noteSharedMissing, ROOT, sharedPath } from '../helpers/shared.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { VIGIL_BIN, cliEnv, vigilAsync } from './run.js'

noteNatsMissing()
noteSharedMissing('daemon metrics of feed data age')

const ADVISORY = () => sharedPath('advisories', 'osv', 'misc', 'Debian', 'DSA-5474-1__DependencyTrack_dependency-track.json')

/** `name{labels} value` lines of the Prometheus text, by metric name. */
function samples(text: string, name: string): { labels: string; value: number }[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .map((l) => {
      const m = /^[^{ ]+(\{[^}]*\})? (\S+)$/.exec(l)!
      return { labels: m[1] ?? '', value: Number(m[2]) }
    })
}

describe.skipIf(!HAS_NATS_SERVER || !HAS_SHARED)('vigil serve /metrics: prom-client defaults, request durations, data age, broker depths', () => {
  let nats: NatsServer
  let daemon: DaemonProcess
  let client: JobClient

  beforeAll(async () => {
    ensureBuilt()
    nats = await startNats()
    const data = await tempDir('vigil-metrics-')
    const imported = await vigilAsync(['db', 'import', ADVISORY(), '--data', data])
    expect(imported.status, imported.stderr).toBe(0)
    daemon = await startDaemonProcess({ natsUrl: nats.url, dataDir: data })
    client = await JobClient.open(nats.url)
  }, 120_000)
  afterAll(async () => {
    await client?.nc.close()
    await daemon?.stop()
    if (daemon) await removeDir(daemon.dataDir)
    await nats?.dispose()
  })

  it('serves process and Node.js defaults next to the daemon\'s own counters', async () => {
    const text = await (await fetch(`${daemon.httpUrl}/metrics`)).text()
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds', 'vigil_jobs_in_flight', 'vigil_ready']) {
      expect(samples(text, name).length, name).toBeGreaterThan(0)
    }
    expect(samples(text, 'vigil_ready')[0]!.value).toBe(1)
  })

  it('times HTTP requests by route pattern and status', async () => {
    expect((await fetch(`${daemon.httpUrl}/healthz`)).status).toBe(200)
    expect((await fetch(`${daemon.httpUrl}/api/v1/query/vuln/CVE-0000-0000`)).status).toBe(200)
    const text = await (await fetch(`${daemon.httpUrl}/metrics`)).text()
    const count = samples(text, 'vigil_http_request_duration_seconds_count')
    expect(count.find((s) => s.labels === '{method="GET",route="/healthz",status_code="200"}')?.value).toBeGreaterThanOrEqual(1)
    expect(count.find((s) => s.labels === '{method="GET",route="/api/v1/query/vuln/:id",status_code="200"}')?.value).toBe(1)
  })

  it('reports how old each feed source\'s data is, from the store', async () => {
    const text = await (await fetch(`${daemon.httpUrl}/metrics`)).text()
    const age = samples(text, 'vigil_feed_source_age_seconds')
    expect(age.length).toBe(1)
    expect(age[0]!.labels).toMatch(/^\{source="[^"]+"\}$/)
    // The advisory was last modified long before this test: days, not seconds.
    expect(age[0]!.value).toBeGreaterThan(86_400)
    const imported = samples(text, 'vigil_feed_source_last_import_timestamp_seconds')[0]!.value
    expect(Math.abs(imported - Date.now() / 1000)).toBeLessThan(3_600)
  })

  it('counts jobs pending on VIGIL_JOBS and messages in the dead-letter stream', async () => {
    const before = await (await fetch(`${daemon.httpUrl}/metrics`)).text()
    expect(samples(before, 'vigil_jobs_pending')[0]!.value).toBe(0)
    expect(samples(before, 'vigil_dlq_messages')[0]!.value).toBe(0)
    await client.publishRaw('vigil.jobs.scan', Buffer.from('{"id": "broken'), 'application/json')
    await daemon.waitFor((l) => String(l.msg).includes('dead-lettered'))
    let dlq = 0
    for (let i = 0; i < 50 && dlq === 0; i++) {
      // The 1 s broker-state cache: a later scrape sees the new message.
      await new Promise((r) => setTimeout(r, 200))
      dlq = samples(await (await fetch(`${daemon.httpUrl}/metrics`)).text(), 'vigil_dlq_messages')[0]!.value
    }
    expect(dlq).toBe(1)
  }, 30_000)
})

describe('logs a person can read', () => {
  const serveFailing = (extra: string[], env: NodeJS.ProcessEnv, data: string) =>
    vigilAsync(['serve', '--http', 'off', '--data', data, ...extra], { env: { HOME: data, ...env } })

  it('--log-format text / VIGIL_LOG_FORMAT: pino-pretty lines; json stays the default off a terminal; a bad format is ERR_CONFIG', async () => {
    const dir = await tempDir('vigil-logs-')
    try {
      const nats = `nats://127.0.0.1:${await freePort()}`
      const text = await serveFailing(['--nats', nats, '--log-format', 'text'], {}, join(dir, 'a'))
      expect(text.status).toBe(3)
      expect(text.stderr).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: created a new secret key at /m)
      expect(text.stderr).not.toMatch(/^\{/m)
      const viaEnv = await serveFailing(['--nats', nats], { VIGIL_LOG_FORMAT: 'text' }, join(dir, 'b'))
      expect(viaEnv.stderr).toMatch(/^\[[\d:.]+\] WARN: created a new secret key/m)
      const json = await serveFailing(['--nats', nats], {}, join(dir, 'c'))
      expect(JSON.parse(json.stderr.split('\n')[0]!)).toMatchObject({ level: 40, msg: expect.stringContaining('created a new secret key') })
      const bad = await serveFailing(['--nats', nats, '--log-format', 'xml'], {}, join(dir, 'd'))
      expect(bad.status).toBe(2)
      expect(bad.stderr).toContain('ERR_CONFIG: --log-format / VIGIL_LOG_FORMAT must be json or text')
    } finally {
      await removeDir(dir)
    }
  }, 60_000)

  it.skipIf(!existsSync('/usr/bin/script'))('on a terminal the default is readable text', async () => {
    const dir = await tempDir('vigil-logs-tty-')
    try {
      // script(1) gives the command a pseudo-terminal, as a person's shell would.
      const command = `${process.execPath} ${VIGIL_BIN} serve --http off --nats nats://127.0.0.1:${await freePort()} --data ${join(dir, 'data')}`
      const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', cwd: ROOT, env: cliEnv({ HOME: dir, NO_COLOR: '1' }), timeout: 60_000 })
      expect(r.stdout).toMatch(/\] WARN: created a new secret key/)
      expect(r.stdout).not.toContain('"level":40')
    } finally {
      await removeDir(dir)
    }
  }, 60_000)
})

describe('a warning when the API is reachable beyond loopback without a token', () => {
  it('names the address and the fix; loopback or a token: no warning', () => {
    expect(exposureWarning({ host: '0.0.0.0', port: 8080 }, undefined)).toMatch(/listens on 0\.0\.0\.0:8080, beyond loopback, and VIGIL_API_TOKEN is unset.*--http 127\.0\.0\.1:8080/)
    expect(exposureWarning({ host: '::', port: 8080 }, undefined)).toContain('beyond loopback')
    expect(exposureWarning({ host: '10.1.2.3', port: 9 }, undefined)).toContain('10.1.2.3:9')
    expect(exposureWarning({ host: '0.0.0.0', port: 8080 }, 'a-token')).toBeUndefined()
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) expect(exposureWarning({ host, port: 8080 }, undefined), host).toBeUndefined()
    expect(exposureWarning(undefined, undefined)).toBeUndefined()
  })
})
