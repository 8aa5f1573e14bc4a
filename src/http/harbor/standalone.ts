import { timingSafeEqual } from 'node:crypto'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import Fastify from 'fastify'
import type { Logger } from 'pino'
import { VigilError } from '../../errors.js'
import { MIME } from './mime.js'
import { harborPlugin } from './plugin.js'

/**
 * `vigil harbor`: the adapter alone, in front of daemons it reaches only over NATS. It holds no
 * store: scan state lives in the KV bucket, reports come from a daemon (source.ts), so any
 * number of these can run behind one load balancer.
 */
export interface AdapterOptions {
  natsUrl: string
  host: string
  port: number
  secretKey: Buffer
  /** When set, every request needs `Authorization: Bearer <token>` or `X-ScannerAdapter-API-Key: <token>`. */
  apiToken?: string
  log: Logger
  refreshAfterSeconds?: number
  /** Where scan requests accepted during a broker outage wait (an LMDB environment under it); none: they are refused. */
  dataDir?: string
}

export interface RunningAdapter {
  /** host:port actually bound. */
  address: string
  nc: NatsConnection
  close(): Promise<void>
}

/** Constant-time compare, so the token cannot be found byte by byte from response times. */
function sameSecret(given: string | undefined, expected: string): boolean {
  const a = Buffer.from(given ?? '')
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

export async function startHarborAdapter(opts: AdapterOptions): Promise<RunningAdapter> {
  let nc: NatsConnection
  try {
    nc = await connect({ servers: opts.natsUrl.split(','), name: 'vigil-harbor', reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5_000 })
  } catch (err) {
    throw new VigilError('ERR_BROKER', `cannot connect to NATS at ${opts.natsUrl}: ${(err as Error).message}`, { cause: err })
  }
  const app = Fastify({ loggerInstance: opts.log.child({ component: 'harbor' }), disableRequestLogging: true, bodyLimit: 1024 * 1024 })
  const token = opts.apiToken
  if (token) {
    // Harbor's registration offers Bearer and APIKey; both carry the same token here.
    app.addHook('onRequest', async (req, reply) => {
      if (req.url === '/healthz') return
      const header = req.headers.authorization
      const apiKey = req.headers['x-scanneradapter-api-key']
      if (sameSecret(header, `Bearer ${token}`) || (typeof apiKey === 'string' && sameSecret(apiKey, token))) return
      return reply.code(401).header('www-authenticate', 'Bearer realm="vigil"').type(MIME.ERROR).send(Buffer.from(JSON.stringify({ error: { message: 'a valid API token is required' } })))
    })
  }
  app.get('/healthz', async () => ({ status: 'ok', nats: !nc.isClosed() }))
  try {
    await app.register(harborPlugin, { nc, secretKey: opts.secretKey, log: app.log, ...(opts.refreshAfterSeconds ? { refreshAfterSeconds: opts.refreshAfterSeconds } : {}), ...(opts.dataDir ? { outboxDir: opts.dataDir } : {}) })
    await app.listen({ host: opts.host, port: opts.port })
  } catch (err) {
    await app.close().catch(() => undefined)
    await nc.close().catch(() => undefined)
    throw err
  }
  const addr = app.server.address()
  const address = typeof addr === 'object' && addr ? `${opts.host}:${addr.port}` : `${opts.host}:${opts.port}`
  return {
    address,
    nc,
    async close() {
      await app.close()
      await nc.drain().catch(() => nc.close())
    },
  }
}
