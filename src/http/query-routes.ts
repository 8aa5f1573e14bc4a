import type { FastifyPluginAsync } from 'fastify'
import { imagesAffectedBy, imagesWithPackage, topRisks } from '../assess/query.js'
import type { HttpServices } from './server.js'

/**
 * The fleet queries of `vigil query` over HTTP, answered from this replica's index (every replica
 * holds every inventory, so any of them answers the same). Read-only LMDB lookups: they do not
 * wait on jobs, and a reader never sees half of a write.
 */
export const queryRoutes: FastifyPluginAsync<HttpServices> = async (app, { store }) => {
  app.get<{ Querystring: { purl: string; range?: string } }>('/package', {
    schema: { querystring: { type: 'object', required: ['purl'], properties: { purl: { type: 'string', minLength: 5, maxLength: 2048 }, range: { type: 'string', maxLength: 512 } } } },
  }, async (req) => {
    const { purl, range } = req.query
    const spec = range ? `${purl}@${encodeURIComponent(range)}` : purl
    const images = imagesWithPackage(store, spec)
    return { purl, ...(range ? { range } : {}), count: images.length, images }
  })

  app.get<{ Params: { id: string } }>('/vuln/:id', {
    schema: { params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 256 } } } },
  }, async (req) => {
    const images = imagesAffectedBy(store, req.params.id)
    return { id: req.params.id, count: images.length, images }
  })

  app.get<{ Querystring: { limit?: number } }>('/top', {
    schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 20 } } } },
  }, async (req) => ({ advisories: topRisks(store, req.query.limit ?? 20) }))
}
