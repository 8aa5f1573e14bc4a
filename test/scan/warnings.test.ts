import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { unzipSync, zipSync } from 'fflate'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { imageFindings, indexImage, readInventory } from '../../src/assess/index.js'
import { doneResult } from '../../src/daemon/results.js'
import { runScan, openAliases } from '../../src/daemon/scan.js'
import { renderReport } from '../../src/http/harbor/render.js'
import { LayerPool } from '../../src/layers/pool.js'
import { toJsonReport } from '../../src/report/json.js'
import { renderTable } from '../../src/report/table.js'
import { buildInventoryDetailed } from '../../src/scan/inventory.js'
import { openStore, type Store } from '../../src/store/env.js'
import type { Inventory } from '../../src/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { tempDir } from '../layers/fixtures.js'
import { makeTar } from '../image/tarfixture.js'

/**
 * An image whose dpkg status holds one NUL byte and whose application jar hides log4j-core five
 * archives down: the scan keeps every other package and says what it skipped, in the inventory,
 * the store, the daemon's scan result, the JSON and table reports and the Harbor report.
 */

noteSharedMissing('scan warnings end to end')
const APP_JAR = 'e2e/grype/test/integration/testdata/image-debian-match-coverage/java/example-java-app-maven-0.1.0.jar'
const TEXLIVE = 'pkgdb/dpkg/claircore/texlive.status'
const enc = new TextEncoder()

function sha(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

/** A one-layer OCI layout written blob by blob. */
function ociLayout(dir: string, layerTar: Buffer): void {
  const blobs = join(dir, 'blobs', 'sha256')
  mkdirSync(blobs, { recursive: true })
  const put = (bytes: Uint8Array) => {
    const digest = sha(bytes)
    writeFileSync(join(blobs, digest.slice(7)), bytes)
    return { digest, size: bytes.length }
  }
  const gz = gzipSync(layerTar)
  const layer = put(gz)
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layerTar)] }, config: {} })))
  const manifest = put(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
  })))
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { architecture: 'amd64', os: 'linux' } }] }))
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
}

describe.skipIf(!HAS_SHARED)('warnings travel from the analyzer to every result', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let pool: LayerPool
  let store: Store
  let layout: string
  let victim: string
  let inventory: Inventory

  beforeAll(async () => {
    ensureBuilt()
    ;({ dir, cleanup } = await tempDir('vigil-warnings-'))
    const status = readFileSync(sharedPath(TEXLIVE))
    const at = status.indexOf('Package: ', Math.floor(status.length / 2))
    victim = /^Package: (.+)$/m.exec(status.toString('latin1', at, at + 200))![1]!
    const description = status.indexOf('Description:', at)
    const poisoned = Buffer.concat([status.subarray(0, description), Buffer.from([0]), status.subarray(description)])
    let log4j = zipSync({ 'META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties': enc.encode('version=2.14.1\ngroupId=org.apache.logging.log4j\nartifactId=log4j-core\n') })
    for (let i = 3; i >= 0; i--) log4j = zipSync({ [`lib/${i === 3 ? 'log4j-core-2.14.1.jar' : `level${i + 1}.jar`}`]: log4j })
    const app = zipSync({ ...unzipSync(readFileSync(sharedPath(APP_JAR))), 'BOOT-INF/lib/level0.jar': log4j })
    const tar = await makeTar([
      { name: 'etc/os-release', data: 'NAME="Ubuntu"\nVERSION_ID="18.04"\nID=ubuntu\nPRETTY_NAME="Ubuntu 18.04.6 LTS"\n' },
      { name: 'var/lib/dpkg/status', data: poisoned },
      { name: 'opt/app/app.jar', data: Buffer.from(app) },
    ])
    layout = join(dir, 'layout')
    ociLayout(layout, tar)
    pool = new LayerPool({ threads: 1 })
    store = openStore(join(dir, 'store'))
    inventory = (await buildInventoryDetailed(`oci:${layout}`, { pool })).inventory
  })
  afterAll(async () => {
    await pool?.close()
    await store?.close()
    await cleanup?.()
  })

  it('the inventory keeps the other packages and names both skips', () => {
    const names = inventory.packages.map((p) => p.name)
    expect(names).not.toContain(victim)
    expect(inventory.packages.filter((p) => p.kind === 'os').length).toBeGreaterThan(300)
    expect(names).toContain('org.anchore:example-java-app-maven')
    expect(inventory.warnings?.map((w) => [w.code, w.path])).toEqual([
      ['ERR_PKGDB_CORRUPT', 'var/lib/dpkg/status'],
      ['ERR_ARCHIVE_BOMB', 'opt/app/app.jar'],
    ])
    expect(inventory.warnings?.[0]?.message).toContain(victim)
    expect(inventory.warnings?.[1]?.message).toContain('log4j-core-2.14.1.jar')
    expect(inventory.warnings?.every((w) => w.layer === inventory.image.layers[0])).toBe(true)
  })

  it('the daemon scan result says so, and so does an answer from the store', async () => {
    const ctx = { store, pool, secretKey: Buffer.alloc(32), aliases: openAliases(store), targetPolicy: { localRoots: [dir], allowRegistries: [], denyRegistries: [] } }
    const signal = new AbortController().signal
    const first = await runScan(ctx, { id: 'w1', target: `oci:${layout}` }, signal)
    const result = doneResult('w1', first.target, first.inventory, first.findings, first.fromStore, 1)
    expect(result.status).toBe('done')
    expect(result.complete).toBe(false)
    expect(result.warnings?.map((w) => w.code)).toEqual(['ERR_PKGDB_CORRUPT', 'ERR_ARCHIVE_BOMB'])
    const again = await runScan(ctx, { id: 'w2', target: `oci:${layout}` }, signal)
    expect(again.fromStore).toBe(true)
    expect(doneResult('w2', again.target, again.inventory, again.findings, true, 1).warnings).toEqual(result.warnings)
  })

  it('the JSON, table and Harbor reports say the scan is incomplete and why', () => {
    indexImage(store, inventory, [])
    const stored = readInventory(store, inventory.image.digest)!
    expect(stored.warnings).toEqual(inventory.warnings)
    const report = { inventory: stored, findings: imageFindings(store, inventory.image.digest) ?? [], suppressed: [], generatedAt: new Date().toISOString() }
    expect(toJsonReport(report)).toMatchObject({ complete: false, warnings: inventory.warnings })
    expect(renderTable(report)).toMatch(/WARNING: the scan skipped content \(2 warnings\); findings may be incomplete:\n {2}ERR_PKGDB_CORRUPT: dpkg on var\/lib\/dpkg\/status: /)
    const harbor = renderReport({ digest: inventory.image.digest, artifact: { repository: 'library/app', digest: inventory.image.digest }, kind: 'vulnerability' }, stored, [])
    expect(harbor).toMatchObject({ complete: false, warnings: inventory.warnings })
  })
})
