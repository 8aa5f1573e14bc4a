import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveImage } from '../../src/image/resolve.js'
import { LayerPool } from '../../src/layers/pool.js'
import { buildInventory } from '../../src/scan/inventory.js'
import { purlWithoutQualifiers } from '../../src/sbom/purl.js'
import type { Inventory } from '../../src/types.js'
import { HAS_REGISTRY_TOOLS, noteRegistryToolsMissing, pushImage, startCountingProxy, startRegistry, startTokenIssuer, type CountingProxy, type RegistryServer, type TokenIssuer } from '../helpers/registry.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { CORPUS, hasImage } from '../image/corpus.js'

/**
 * The whole scan pipeline over a real registry: a corpus image pushed with skopeo into
 * docker-registry behind htpasswd auth and behind token auth, scanned by tag and by digest; the
 * multi-arch index scanned for both platforms. Each registry inventory must equal the one from
 * the same image's OCI layout on disk.
 */
const READY = HAS_REGISTRY_TOOLS && hasImage('debian-minbase') && hasImage('distroless-multiarch')
noteRegistryToolsMissing()
if (HAS_REGISTRY_TOOLS && !READY) console.warn('[skip] registry-scan.test.ts: corpus images debian-minbase and distroless-multiarch are needed')

const USER = { username: 'scanner', password: 's3cret-pass' }
const CREDS = `${USER.username}:${USER.password}`
const basic = { kind: 'basic' as const, ...USER }

function purls(inv: Inventory): string[] {
  return inv.packages.map((p) => purlWithoutQualifiers(p.purl)).sort()
}

describe.skipIf(!READY)('scanning images in a real registry', () => {
  let pool: LayerPool
  let htpasswd: RegistryServer
  let proxy: CountingProxy
  let issuer: TokenIssuer
  let token: RegistryServer
  let localMinbase: Inventory

  beforeAll(async () => {
    ensureBuilt()
    pool = new LayerPool({ threads: 2 })
    issuer = await startTokenIssuer({ users: { [USER.username]: USER.password } })
    ;[htpasswd, token] = await Promise.all([startRegistry({ kind: 'htpasswd', users: { [USER.username]: USER.password } }), startRegistry({ kind: 'token', issuer })])
    proxy = await startCountingProxy(htpasswd)
    const minbase = `oci:${join(CORPUS, 'debian-minbase', 'oci')}:latest`
    const multi = `oci:${join(CORPUS, 'distroless-multiarch', 'oci')}:latest`
    await Promise.all([
      pushImage(minbase, htpasswd, 'base/minbase:12', { creds: CREDS }),
      pushImage(multi, htpasswd, 'base/distroless:multi', { creds: CREDS, all: true }),
      pushImage(minbase, token, 'base/minbase:12', { creds: CREDS }),
    ])
    localMinbase = await buildInventory(`oci:${join(CORPUS, 'debian-minbase', 'oci')}`, { pool })
  })
  afterAll(async () => {
    await pool?.close()
    await proxy?.stop()
    await Promise.all([htpasswd?.stop(), token?.stop()])
    await issuer?.stop()
  })

  it('htpasswd registry: by tag, then by digest, equal to the OCI layout scan', async () => {
    proxy.log.length = 0
    const byTag = await buildInventory(`${proxy.host}/base/minbase:12`, { pool, auth: basic })
    expect(byTag.image.digest).toBe(localMinbase.image.digest)
    expect(byTag.os?.ecosystem).toBe('Debian:12')
    expect(purls(byTag)).toEqual(purls(localMinbase))
    expect(byTag.packages.length).toBeGreaterThan(50)
    // Credentials went only in answer to the challenge: one unauthenticated request, the 401.
    expect(proxy.log.filter((r) => r.authorization === 'none').map((r) => r.status)).toEqual([401])
    expect(proxy.log.some((r) => r.path.includes('/blobs/'))).toBe(true)

    const byDigest = await buildInventory(`${htpasswd.host}/base/minbase@${localMinbase.image.digest}`, { pool, auth: basic })
    expect(byDigest.image.digest).toBe(localMinbase.image.digest)
    expect(purls(byDigest)).toEqual(purls(localMinbase))
  })

  it('token-auth registry: the Bearer challenge is answered with the token exchange', async () => {
    const before = issuer.log.length
    const inv = await buildInventory(`${token.host}/base/minbase:12`, { pool, auth: basic })
    expect(inv.image.digest).toBe(localMinbase.image.digest)
    expect(purls(inv)).toEqual(purls(localMinbase))
    expect(issuer.log.length).toBeGreaterThan(before)
    const byDigest = await buildInventory(`${token.host}/base/minbase@${localMinbase.image.digest}`, { pool, auth: basic })
    expect(purls(byDigest)).toEqual(purls(localMinbase))
  })

  it('a multi-arch index is scanned for both platforms', async () => {
    const amd = await buildInventory(`${htpasswd.host}/base/distroless:multi`, { pool, auth: basic, platform: 'linux/amd64' })
    const arm = await buildInventory(`${htpasswd.host}/base/distroless:multi`, { pool, auth: basic, platform: 'linux/arm64' })
    expect(amd.image.digest).not.toBe(arm.image.digest)
    expect(amd.image.platform).toMatch(/^linux\/amd64/)
    expect(arm.image.platform).toMatch(/^linux\/arm64/)
    const names = (inv: Inventory) => inv.packages.map((p) => p.name).sort()
    expect(names(amd)).toEqual(['base-files', 'gcc-12-base', 'libc6', 'libgcc-s1', 'zlib1g'])
    expect(names(arm)).toEqual(names(amd))
    expect(arm.packages.find((p) => p.name === 'libc6')?.arch).toBe('arm64')
    expect(amd.packages.find((p) => p.name === 'libc6')?.arch).toBe('amd64')
    const local = await resolveImage(`oci:${join(CORPUS, 'distroless-multiarch', 'oci')}`, { platform: 'linux/arm64' })
    expect(arm.image.digest).toBe(local.digest)
  })
})
