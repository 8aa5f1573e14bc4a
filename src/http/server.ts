import { timingSafeEqual } from 'node:crypto'
import type { JetStreamClient } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import type { Logger } from 'pino'
import type { DaemonConfig } from '../daemon/config.js'
import { toErrorRecord, VigilError } from '../errors.js'
import type { Store } from '../store/env.js'
import { isLoopbackHost } from '../image/reference.js'
import { healthRoutes } from './health.js'
import { harborPlugin } from './harbor/plugin.js'
import type { Metrics } from './metrics.js'
import { createPromMetrics } from './prometheus.js'
import { queryRoutes } from './query-routes.js'

/** What every route plugin is given (the Harbor adapter included): no globals, no second connection. */
export interface HttpServices {
  config: Readonly<DaemonConfig>
  store: Store
  metrics: Metrics
  nc: NatsConnection
  js: JetStreamClient
  /** The shared AES-256-GCM key (src/secrets.ts): the Harbor adapter encrypts credentials with it. */
  secretKey: Buffer
  log: Logger
  /** Readiness checks by name; all true = ready. */
  readiness(): Record<string, boolean>
}

/**
 * Route plugins, one line each, registered in this order. A plugin is a Fastify plugin over
 * HttpServices; it gets the same bearer-token guard as every route outside PUBLIC_PATHS.
 */
const ROUTE_PLUGINS: { plugin: FastifyPluginAsync<HttpServices>; prefix?: string }[] = [
  { plugin: healthRoutes },
  { plugin: queryRoutes, prefix: '/api/v1/query' },
  { plugin: harborPlugin },
]

/** Probes stay reachable without the API token (orchestrators do not carry it). */
const PUBLIC_PATHS = new Set(['/healthz', '/readyz'])

const LISTEN_FAULTS: Record<string, string> = {
  EADDRINUSE: 'is already in use (another vigil, or another program, listens there)',
  EACCES: 'is not permitted to this user (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'is not an address of this host',
}

/**
 * Listens, or closes the app and throws ERR_LISTEN: an app left open keeps its plugins' timers
 * (the Harbor results follower retries forever) and with them a process that can never serve.
 * Returns host:port as bound (the real port when 0 was asked for).
 */
// How long a failed start waits for the app's onClose hooks.
const CLOSE_LIMIT_MS = 2_000

/**
 * Closes the app, waiting at most CLOSE_LIMIT_MS: an onClose hook that never returns (the Harbor
 * results follower, stopped while it is still subscribing, waits on its consumer until the
 * connection closes, which comes after) must not keep a failed start from exiting.
 */
export function closeHttp(app: FastifyInstance): Promise<void> {
  // Once per app: a second caller waits for the same bounded close, not for another limit.
  let closing = closings.get(app)
  if (!closing) {
    let timer: NodeJS.Timeout | undefined
    const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_LIMIT_MS)))
    closing = Promise.race([app.close().then(() => undefined, () => undefined), limit]).finally(() => clearTimeout(timer))
    closings.set(app, closing)
  }
  return closing
}
const closings = new WeakMap<FastifyInstance, Promise<void>>()

export async function listenHttp(app: FastifyInstance, address: { host: string; port: number }): Promise<string> {
  try {
    await app.listen({ host: address.host, port: address.port })
  } catch (err) {
    await closeHttp(app)
    const code = (err as NodeJS.ErrnoException).code ?? ''
    const why = LISTEN_FAULTS[code] ?? `cannot be listened on: ${(err as Error).message}`
    throw new VigilError('ERR_LISTEN', `HTTP address ${address.host}:${address.port} ${why}; choose another with --http HOST:PORT or $VIGIL_HTTP`, { cause: err })
  }
  const bound = app.server.address()
  return `${address.host}:${typeof bound === 'object' && bound ? bound.port : address.port}`
}

/**
 * What to warn about at start when the API is reachable from other hosts and anyone there may
 * use it: queries list every image's packages and findings, and scans can be asked for.
 */
export function exposureWarning(http: { host: string; port: number } | undefined, apiToken: string | undefined): string | undefined {
  if (!http || apiToken !== undefined || isLoopbackHost(http.host.includes(':') ? `[${http.host}]` : http.host)) return undefined
  return `the HTTP API listens on ${http.host}:${http.port}, beyond loopback, and VIGIL_API_TOKEN is unset: anyone who can reach it may query the fleet and submit scans; set VIGIL_API_TOKEN, or --http 127.0.0.1:${http.port}`
}

export async function createHttpServer(services: HttpServices): Promise<FastifyInstance> {
  const exposed = exposureWarning(services.config.http, services.config.apiToken)
  if (exposed) services.log.warn({ http: services.config.http }, exposed)
  const app = Fastify({
    // Per-request lines are info; the daemon's own log is what operators read, so HTTP logs warnings only.
    loggerInstance: services.log.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: services.config.maxMessageBytes,
  })
  const token = services.config.apiToken
  if (token !== undefined) {
    const expected = Buffer.from(token)
    // Constant-time compare, so the token cannot be guessed byte by byte from response times.
    const matches = (value: string | undefined) => {
      const given = Buffer.from(value ?? '')
      return given.length === expected.length && timingSafeEqual(given, expected)
    }
    app.addHook('onRequest', async (req, reply) => {
      if (PUBLIC_PATHS.has(req.url.split('?')[0]!)) return
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
      // Harbor can also send the token as X-ScannerAdapter-API-Key (its scanner registration option).
      const apiKey = req.headers['x-scanneradapter-api-key']
      if (!matches(bearer) && !matches(typeof apiKey === 'string' ? apiKey : undefined)) {
        return reply.code(401).header('www-authenticate', 'Bearer realm="vigil"').send({ error: { code: 'ERR_UNAUTHORIZED', message: 'a valid bearer token is required (VIGIL_API_TOKEN)' } })
      }
    })
  }
  const prom = createPromMetrics(services)
  prom.instrument(app)
  app.get('/metrics', async (_req, reply) => reply.type(prom.registry.contentType).send(services.metrics.render() + (await prom.registry.metrics())))
  app.setErrorHandler((err, _req, reply) => {
    const validation = (err as { validation?: unknown }).validation !== undefined
    const rec = validation ? { code: 'ERR_USAGE', message: (err as Error).message } : toErrorRecord(err)
    const status = validation || (VigilError.is(err) && err.exitCode === 2) ? (rec.code === 'ERR_NOT_FOUND' ? 404 : 400) : 500
    if (status === 500) services.log.error({ err }, 'HTTP handler failed')
    return reply.code(status).send({ error: { code: rec.code, message: rec.message } })
  })
  for (const { plugin, prefix } of ROUTE_PLUGINS) await app.register(plugin, { ...services, ...(prefix ? { prefix } : {}) })
  return app
}
