import { spawn, spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HAS_NATS_SERVER, NATS_SERVER_BIN, noteNatsMissing } from '../helpers/nats.js'
import { freePort } from '../helpers/registry.js'
import { ROOT } from '../helpers/shared.js'
import { CORPUS, hasImage, noteCorpusMissing } from '../image/corpus.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { VIGIL_BIN, cliEnv, isAlive, scratchDir, vigilAsync, vigilSync } from './run.js'

noteNatsMissing()
noteCorpusMissing(['debian-node-app'])

let scratch: { path: string; dispose(): Promise<void> }
beforeAll(async () => {
  ensureBuilt()
  scratch = await scratchDir('vigil-hygiene-')
}, 300_000)
afterAll(async () => scratch?.dispose())

async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  return { port: typeof addr === 'object' && addr ? addr.port : 0, server }
}

describe.skipIf(!HAS_NATS_SERVER)('vigil serve: a start-up failure ends the process and what it spawned', () => {
  it('HTTP port in use: exits 3 with ERR_LISTEN within 5 s of the failure, stops its embedded nats-server, removes the data dir it created', async () => {
    const held = await holdPort()
    const data = join(scratch.path, 'serve-port-in-use')
    // VIGIL_NATS_PROBE_URL stands in for nats://127.0.0.1:4222 (the machine's own): nothing answers
    // there, so the daemon spawns a nats-server of its own, the child process this test watches.
    const child = spawn(process.execPath, [VIGIL_BIN, 'serve', '--http', `127.0.0.1:${held.port}`, '--data', data, '--workers', '1'], {
      cwd: ROOT,
      env: cliEnv({ HOME: scratch.path, VIGIL_NATS_PROBE_URL: `nats://127.0.0.1:${await freePort()}`, VIGIL_NATS_SERVER: NATS_SERVER_BIN }),
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    let failedAt: number | undefined
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      if (failedAt === undefined && stderr.includes('ERR_LISTEN')) failedAt = Date.now()
    })
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    // Start-up on a loaded machine may take a while; what must be prompt is the exit after the failure.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    const code = await exit
    const exitedAt = Date.now()
    clearTimeout(timer)
    held.server.close()

    const embedded = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; pid?: number }).find((l) => l.msg.includes('started an embedded nats-server'))
    expect(embedded?.pid, stderr).toBeTypeOf('number')
    expect(code, stderr).toBe(3)
    expect(stderr).toMatch(/error ERR_LISTEN: HTTP address 127\.0\.0\.1:\d+ is already in use/)
    expect(failedAt).toBeDefined()
    expect(exitedAt - failedAt!).toBeLessThan(5_000)
    expect(isAlive(embedded!.pid!)).toBe(false)
    expect(existsSync(data)).toBe(false)
  }, 90_000)

  it('an unreachable broker: exits 3 with ERR_BROKER and leaves no data dir; a bad flag exits 2 before creating one', async () => {
    const data = join(scratch.path, 'serve-no-broker')
    const r = await vigilAsync(['serve', '--nats', `nats://127.0.0.1:${await freePort()}`, '--http', 'off', '--data', data], { env: { HOME: scratch.path } })
    expect(r.status, r.stderr).toBe(3)
    expect(r.stderr).toContain('error ERR_BROKER: cannot connect to NATS')
    expect(existsSync(data)).toBe(false)
    const bad = await vigilAsync(['serve', '--workers', 'many', '--data', data], { env: { HOME: scratch.path } })
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('ERR_CONFIG')
    expect(existsSync(data)).toBe(false)
  }, 60_000)
})

describe('failing commands leave no stray data dir', () => {
  it('scan of a missing image exits 2 and removes the data dir it created; an existing data dir is kept', () => {
    const data = join(scratch.path, 'scan-missing')
    const r = vigilSync(['scan', `oci:${join(scratch.path, 'no-such-layout')}`, '--data', data], { env: { HOME: scratch.path } })
    expect(r.status, r.stderr).toBe(2)
    expect(r.stderr).toContain('ERR_TARGET_NOT_FOUND')
    expect(existsSync(data)).toBe(false)

    const kept = vigilSync(['query', 'top', '--data', data], { env: { HOME: scratch.path } })
    expect(kept.status, kept.stderr).toBe(0)
    const again = vigilSync(['scan', `oci:${join(scratch.path, 'no-such-layout')}`, '--data', data], { env: { HOME: scratch.path } })
    expect(again.status).toBe(2)
    expect(existsSync(join(data, 'store'))).toBe(true)
  })
})

describe('the default data dir is per user (XDG), not the working directory', () => {
  it('uses $XDG_DATA_HOME/vigil, else ~/.local/share/vigil; $VIGIL_DATA and --data still win', async () => {
    const home = join(scratch.path, 'home')
    const cwd = (await scratchDir('vigil-cwd-'))
    try {
      const plain = vigilSync(['query', 'top'], { cwd: cwd.path, env: { HOME: home } })
      expect(plain.status, plain.stderr).toBe(0)
      expect(existsSync(join(home, '.local', 'share', 'vigil', 'store'))).toBe(true)
      expect(existsSync(join(cwd.path, '.vigil'))).toBe(false)

      const xdg = join(scratch.path, 'xdg')
      expect(vigilSync(['query', 'top'], { cwd: cwd.path, env: { HOME: home, XDG_DATA_HOME: xdg } }).status).toBe(0)
      expect(existsSync(join(xdg, 'vigil', 'store'))).toBe(true)

      const env = join(scratch.path, 'from-env')
      expect(vigilSync(['query', 'top'], { cwd: cwd.path, env: { HOME: home, XDG_DATA_HOME: xdg, VIGIL_DATA: env } }).status).toBe(0)
      expect(existsSync(join(env, 'store'))).toBe(true)
      const flag = join(scratch.path, 'from-flag')
      expect(vigilSync(['query', 'top', '--data', flag], { cwd: cwd.path, env: { HOME: home, VIGIL_DATA: env } }).status).toBe(0)
      expect(existsSync(join(flag, 'store'))).toBe(true)
    } finally {
      await cwd.dispose()
    }
  })
})

describe('a closed stdout ends quietly', () => {
  const pipeToHead = (command: string) =>
    spawnSync('bash', ['-c', `${command} | head -1; echo "vigil-exit=\${PIPESTATUS[0]}"`], { encoding: 'utf8', cwd: ROOT, env: cliEnv({ HOME: scratch.path }), timeout: 120_000 })

  it('`vigil version compare … | head -1` over 300,000 lines: one line out, no trace, exit 0', () => {
    const input = join(scratch.path, 'pairs.tsv')
    writeFileSync(input, '1.0-1\t1.0-2\n'.repeat(300_000))
    const r = pipeToHead(`node ${VIGIL_BIN} version compare dpkg < ${input}`)
    expect(r.stdout).toBe('-1\nvigil-exit=0\n')
    expect(r.stderr).toBe('')
  })

  it.skipIf(!hasImage('debian-node-app'))('`vigil sbom … | head -1` with ~190 KB of SPDX: the first line, no trace, exit 0', () => {
    const r = pipeToHead(`node ${VIGIL_BIN} sbom oci:${join(CORPUS, 'debian-node-app', 'oci')} -f spdx-json -q --data ${join(scratch.path, 'sbom-data')}`)
    expect(r.stdout).toBe('{\nvigil-exit=0\n')
    expect(r.stderr).toBe('')
  }, 120_000)
})
