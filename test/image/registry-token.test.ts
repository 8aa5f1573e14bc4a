import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { refreshBlobLocator } from '../../src/image/registry.js'
import { resolveImage } from '../../src/image/resolve.js'
import {
  HAS_REGISTRY_TOOLS,
  noteRegistryToolsMissing,
  pushImage,
  startCountingProxy,
  startRegistry,
  startTokenIssuer,
  type CountingProxy,
  type RegistryServer,
  type TokenIssuer,
} from '../helpers/registry.js'
import { CORPUS, hasImage, readPack } from './corpus.js'
import { streamAllLayers, streamLayer } from './stream.js'

/** docker-registry with `auth.token`, tokens from the test issuer (RS256 JWTs, self-signed cert). */
const READY = HAS_REGISTRY_TOOLS && hasImage('distroless-style')
noteRegistryToolsMissing()

const USER = { username: 'bob', password: 'token-pass' }
const auth = { kind: 'basic' as const, ...USER }

describe.skipIf(!READY)('registry with Bearer token auth', () => {
  let issuer: TokenIssuer
  let registry: RegistryServer
  let proxy: CountingProxy
  const pack = () => readPack('distroless-style')

  beforeAll(async () => {
    issuer = await startTokenIssuer({ users: { [USER.username]: USER.password } })
    registry = await startRegistry({ kind: 'token', issuer })
    proxy = await startCountingProxy(registry)
    await pushImage(`oci:${join(CORPUS, 'distroless-style', 'oci')}:latest`, registry, 'team/distroless:1', { creds: `${USER.username}:${USER.password}` })
  })
  afterAll(async () => {
    await proxy?.stop()
    await registry?.stop()
    await issuer?.stop()
  })

  it('exchanges Basic credentials for a pull token at the realm, after an anonymous first request', async () => {
    issuer.log.length = 0
    proxy.log.length = 0
    const image = await resolveImage(`${proxy.host}/team/distroless:1`, { auth })
    expect(image.digest).toBe(pack().oci.manifest.digest)
    expect(image.layers.map((l) => l.diffId)).toEqual(pack().diff_ids)
    expect(issuer.log).toEqual([{ user: 'bob', scope: 'repository:team/distroless:pull', granted: true }])
    expect(proxy.log[0]).toMatchObject({ authorization: 'none', status: 401 })
    expect(proxy.log.slice(1).map((r) => r.authorization)).toEqual(proxy.log.slice(1).map(() => 'bearer'))
    expect(await streamAllLayers(image)).toBe(pack().layers[0]!.blob.size)
  })

  it('resolves by digest', async () => {
    const image = await resolveImage(`${registry.host}/team/distroless@${pack().oci.manifest.digest}`, { auth })
    expect(image.configDigest).toBe(pack().config.digest)
  })

  it('uses a given bearer token as given (Harbor), without asking the issuer', async () => {
    const res = await fetch(`${issuer.realm}?service=${issuer.service}&scope=repository:team/distroless:pull`, {
      headers: { authorization: `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString('base64')}` },
    })
    const { token } = (await res.json()) as { token: string }
    issuer.log.length = 0
    proxy.log.length = 0
    const image = await resolveImage(`${proxy.host}/team/distroless:1`, { auth: { kind: 'bearer', token } })
    expect(image.digest).toBe(pack().oci.manifest.digest)
    expect(issuer.log).toHaveLength(0)
    expect(proxy.log[0]).toMatchObject({ authorization: 'none', status: 401 })
    expect(image.layers[0]!.locator).toMatchObject({ headers: { authorization: `Bearer ${token}` } })
  })

  it('a wrong password or anonymous pull (not allowed here) → ERR_REGISTRY_AUTH; a forged token too', async () => {
    const ref = `${registry.host}/team/distroless:1`
    await expect(resolveImage(ref, { auth: { ...auth, password: 'nope' } })).rejects.toMatchObject({ code: 'ERR_REGISTRY_AUTH' })
    await expect(resolveImage(ref)).rejects.toMatchObject({ code: 'ERR_REGISTRY_AUTH' })
    await expect(resolveImage(ref, { auth: { kind: 'bearer', token: 'not.a.jwt' } })).rejects.toMatchObject({ code: 'ERR_REGISTRY_AUTH' })
  })

  it('a stale token in a locator fails with reauth, and refreshBlobLocator renews it', async () => {
    const image = await resolveImage(`${registry.host}/team/distroless:1`, { auth })
    const layer = image.layers[0]!
    const stale = { ...layer, locator: { ...layer.locator, headers: { authorization: 'Bearer expired.token.value' } } }
    await expect(streamLayer(stale)).rejects.toMatchObject({ code: 'ERR_REGISTRY_AUTH', details: { reauth: true } })
    issuer.log.length = 0
    const fresh = { ...layer, locator: await refreshBlobLocator(stale.locator, { auth }) }
    expect(issuer.log).toEqual([{ user: 'bob', scope: 'repository:team/distroless:pull', granted: true }])
    expect(await streamLayer(fresh)).toBe(layer.size)
  })

  it('gets an anonymous token when the issuer allows anonymous pull (no credentials sent anywhere)', async () => {
    issuer.anonymousPull = true
    try {
      issuer.log.length = 0
      proxy.log.length = 0
      const image = await resolveImage(`${proxy.host}/team/distroless:1`)
      expect(image.digest).toBe(pack().oci.manifest.digest)
      expect(issuer.log).toEqual([{ user: undefined, scope: 'repository:team/distroless:pull', granted: true }])
      expect(proxy.log.filter((r) => r.authorization === 'basic')).toHaveLength(0)
      await streamAllLayers(image)
    } finally {
      issuer.anonymousPull = false
    }
  })
})
