/**
 * The container image, read from the Dockerfile (this machine has no Docker daemon to build it):
 * the HEALTHCHECK runs the very command the Dockerfile gives against the daemon's real health
 * route, and the image holds only what src/ and workers/ load at run time.
 */
import { spawn } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import { afterAll, describe, expect, test } from 'vitest'
import { healthRoutes } from '../../src/http/health.js'
import type { HttpServices } from '../../src/http/server.js'
import { parseHostPort } from '../../src/daemon/config.js'
import { ROOT } from '../helpers/shared.js'
import { dockerfile } from './dockerfile.js'
import { DAEMON_ENTRY, envReadFrom, runtimePackages } from './sources.js'

const { runtime } = dockerfile()
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> }

/** Runs the HEALTHCHECK command as Docker would inside the container: its argv, the image's environment. */
async function runHealthcheck(env: Record<string, string>): Promise<number> {
  const [bin, ...args] = runtime.healthcheck!.cmd
  expect(bin).toBe('node')
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? -1)))
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

const closers: (() => Promise<unknown>)[] = []
afterAll(async () => { for (const close of closers) await close() })

describe('Dockerfile HEALTHCHECK', () => {
  test('exists in the runtime stage, in exec form with node (the slim image has no curl), with a timeout and retries', () => {
    expect(runtime.healthcheck).toBeDefined()
    expect(runtime.healthcheck!.cmd[0]).toBe('node')
    expect(Object.keys(runtime.healthcheck!.options)).toEqual(expect.arrayContaining(['interval', 'timeout', 'retries', 'start-period']))
  })

  test('passes against the daemon\'s real /healthz on the port of the image\'s VIGIL_HTTP, also while the replica is not ready', async () => {
    const app = Fastify()
    await app.register(healthRoutes, { readiness: () => ({ index: false }) } as unknown as HttpServices)
    await app.listen({ host: '127.0.0.1', port: 0 })
    closers.push(() => app.close())
    const port = (app.server.address() as AddressInfo).port
    // The image's own setting says where the daemon listens; the check must follow it.
    const imageHttp = parseHostPort(runtime.env.VIGIL_HTTP!)!
    expect(runtime.expose).toContain(imageHttp.port)
    expect(await runHealthcheck({ ...runtime.env, VIGIL_HTTP: `${imageHttp.host}:${port}` })).toBe(0)
  })

  test('fails when /healthz answers an error, and when nothing listens', async () => {
    const failing = createServer((_req, res) => res.writeHead(500).end())
    const port = await listen(failing)
    closers.push(() => new Promise((resolve) => failing.close(resolve)))
    expect(await runHealthcheck({ ...runtime.env, VIGIL_HTTP: `0.0.0.0:${port}` })).toBe(1)
    const closed = createServer()
    const closedPort = await listen(closed)
    await new Promise((resolve) => closed.close(resolve))
    expect(await runHealthcheck({ ...runtime.env, VIGIL_HTTP: `0.0.0.0:${closedPort}` })).toBe(1)
  })
})

describe('the image holds only runtime dependencies', () => {
  const loaded = runtimePackages(['src', 'workers'])

  test('every package src/ and workers/ load at run time is a dependency, not a devDependency', () => {
    expect(loaded.size).toBeGreaterThan(10)
    const missing = [...loaded.keys()].filter((name) => !(name in pkg.dependencies)).map((name) => `${name} (${loaded.get(name)![0]})`)
    expect(missing).toEqual([])
  })

  test('every dependency is loaded by src/ or workers/: what only tests and benchmarks use stays out of `npm ci --omit=dev`', () => {
    expect(Object.keys(pkg.dependencies).filter((name) => !loaded.has(name))).toEqual([])
  })

  test('the runtime stage copies the compiled src/ and workers/ but not bench/, whose packages the pruned node_modules lacks', () => {
    const benchOnly = [...runtimePackages(['bench']).keys()].filter((name) => !(name in pkg.dependencies))
    expect(benchOnly).toContain('tar-stream')
    expect(runtime.copiedFromBuild).toEqual(expect.arrayContaining(['/src/dist/src', '/src/dist/workers', '/src/node_modules']))
    expect(runtime.copiedFromBuild.filter((src) => src === '/src/dist' || src.startsWith('/src/dist/bench'))).toEqual([])
    expect(runtime.instructions.some((i) => i.keyword === 'RUN' && /npm (ci|install)/.test(i.args))).toBe(false)
    const build = dockerfile().all.find((i) => i.keyword === 'RUN' && i.args.includes('npm prune'))
    expect(build?.args).toContain('--omit=dev')
  })

  test('the image runs as uid and gid 10001, not root, and its VIGIL_ settings are ones the daemon reads', () => {
    expect(runtime.user).toBe('10001:10001')
    const reads = envReadFrom(DAEMON_ENTRY)
    for (const name of Object.keys(runtime.env).filter((n) => n.startsWith('VIGIL_'))) expect([...reads], name).toContain(name)
    expect(runtime.env.VIGIL_DATA).toBe(runtime.volume)
    expect(runtime.entrypoint.at(-1)).toBe('/opt/vigil/bin/vigil.js')
    expect(runtime.cmd[0]).toBe('serve')
  })
})
