import type { FastifyPluginAsync } from 'fastify'
import type { HttpServices } from './server.js'

/**
 * Liveness and readiness. /healthz says the process answers; /readyz says this replica may be
 * sent queries and jobs: NATS connected, store open, and the inventory rebuild (and feed
 * catch-up) finished. Both stay outside the API token so orchestrators can probe them.
 */
export const healthRoutes: FastifyPluginAsync<HttpServices> = async (app, services) => {
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    const checks = services.readiness()
    const ready = Object.values(checks).every(Boolean)
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks })
  })
}
