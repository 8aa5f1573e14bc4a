import { existsSync } from 'node:fs'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzerSetVersion } from '../../src/analyzers/index.js'
import { LayerPool } from '../../src/layers/pool.js'
import { buildInventoryDetailed, type InventoryResult } from '../../src/scan/inventory.js'
import { openStore, type Store } from '../../src/store/env.js'
import { LayerCache } from '../../src/store/layer-cache.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { tempDir } from '../layers/fixtures.js'
import { CORPUS } from './corpus.js'

const LAYERED = join(CORPUS, 'debian-layered')
const NODE_APP = join(CORPUS, 'debian-node-app')
const HAVE = existsSync(join(LAYERED, 'oci', 'index.json')) && existsSync(join(NODE_APP, 'oci', 'index.json'))
if (!HAVE) console.warn(`[skip] debian-layered / debian-node-app are not built in ${CORPUS}`)

/** The dpkg status stanzas marked installed, by name → version (the image's own truth). */
function installed(status: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const stanza of status.split(/\n\n+/)) {
    const name = /^Package: (.+)$/m.exec(stanza)?.[1]
    const version = /^Version: (.+)$/m.exec(stanza)?.[1]
    if (name && version && /^Status: install ok installed$/m.test(stanza)) out.set(name, version)
  }
  return out
}

describe.skipIf(!HAVE)('debian-layered: whiteouts, opaque dir, purge, attribution, cache', () => {
  let pool: LayerPool
  let store: Store
  let dir: string
  let cleanup: () => Promise<void>
  let first: InventoryResult

  beforeAll(async () => {
    ensureBuilt()
    ;({ dir, cleanup } = await tempDir('vigil-scan-'))
    store = openStore(dir)
    pool = new LayerPool({ threads: 2 })
    first = await buildInventoryDetailed(`oci:${join(LAYERED, 'oci')}`, { pool, store })
  })
  afterAll(async () => {
    await pool?.close()
    await store?.close()
    await cleanup?.()
  })

  it('has exactly the packages of the top layer: the purged python3-yaml is gone', async () => {
    const info = JSON.parse(await readFile(join(LAYERED, 'info.json'), 'utf8')) as { dpkg_packages: number; dpkg_packages_layer2: number }
    const dpkg = first.inventory.packages.filter((p) => p.kind === 'os')
    expect(dpkg).toHaveLength(info.dpkg_packages)
    expect(dpkg.map((p) => p.name)).not.toContain('python3-yaml')
    expect(first.inventory.packages.some((p) => /yaml/i.test(p.name) && p.kind === 'lang')).toBe(false)
    // ...while layer 2 on its own did have it: the merge removed it, not the analyzer.
    const layer2 = new LayerCache(store).get(first.inventory.image.layers[1]!, analyzerSetVersion())!
    const layer2Os = layer2.files.flatMap((f) => f.result.packages ?? []).filter((p) => p.kind === 'os')
    expect(layer2Os.map((p) => p.name)).toContain('python3-yaml')
    expect(layer2Os).toHaveLength(info.dpkg_packages_layer2)
    expect(first.inventory.os?.ecosystem).toBe('Debian:12')
  })

  it('records the whiteouts and the opaque dir of layer 3 and applies them', () => {
    const store3 = new LayerCache(store).get(first.inventory.image.layers[2]!, analyzerSetVersion())!
    expect(store3.opaqueDirs).toEqual(['opt/app/config'])
    expect([...store3.whiteouts].sort()).toEqual([
      'opt/app/obsolete.txt',
      'usr/lib/python3/dist-packages/PyYAML-6.0.dist-info',
      'usr/lib/python3/dist-packages/_yaml',
      'usr/lib/python3/dist-packages/yaml',
      'usr/share/doc/python3-yaml',
      'var/lib/dpkg/info/python3-yaml.list',
      'var/lib/dpkg/info/python3-yaml.md5sums',
      'var/lib/dpkg/info/python3-yaml.postinst',
      'var/lib/dpkg/info/python3-yaml.prerm',
    ])
    expect(store3.stats.compression).toBe('gzip')
  })

  it('attributes each package to the layer that first had it at its version', async () => {
    const [l1, l2, l3] = first.inventory.image.layers
    const byLayer = new Map<string, string[]>()
    for (const p of first.inventory.packages.filter((p) => p.kind === 'os')) byLayer.set(p.layer!, [...(byLayer.get(p.layer!) ?? []), p.name])
    // Layer 3 rewrote the status file, but introduced nothing.
    expect(byLayer.has(l3!)).toBe(false)
    const minbase = JSON.parse(await readFile(join(CORPUS, 'debian-minbase', 'info.json'), 'utf8')) as { dpkg_packages: number }
    expect(byLayer.get(l1!)).toHaveLength(minbase.dpkg_packages)
    expect(byLayer.get(l1!)).toContain('base-files')
    expect(byLayer.get(l2!)).toEqual(expect.arrayContaining(['openssl', 'curl', 'libxml2', 'python3']))
  })

  it('reuses cached layers: a second scan runs no worker task, a sibling image only its own layers', async () => {
    const before = pool.tasksRun
    expect(first.layers.map((l) => l.cached)).toEqual([false, false, false])
    const again = await buildInventoryDetailed(`oci:${join(LAYERED, 'oci')}`, { pool, store })
    expect(pool.tasksRun).toBe(before)
    expect(again.layers.map((l) => l.cached)).toEqual([true, true, true])
    expect(again.inventory.packages).toEqual(first.inventory.packages)
    // debian-node-app shares the minbase layer blob: only its other layers reach a worker.
    const node = await buildInventoryDetailed(`oci:${join(NODE_APP, 'oci')}`, { pool, store })
    expect(node.layers[0]!.digest).toBe(first.layers[0]!.digest)
    expect(node.layers.map((l) => l.cached)).toEqual([true, false, false])
    expect(pool.tasksRun).toBe(before + 2)
  })

  it('gives the same inventory from the docker-archive form', async () => {
    const archive = await buildInventoryDetailed(`docker-archive:${join(CORPUS, 'debian-layered.docker.tar')}`, { pool })
    const key = (p: { name: string; version: string }) => `${p.name}@${p.version}`
    expect(archive.inventory.packages.map(key).sort()).toEqual(first.inventory.packages.map(key).sort())
    expect(archive.layers.every((l) => l.stats.compression === 'none')).toBe(true)
  })

  it('matches the image’s own dpkg status, read from the top layer that has it by a plain tar walk', async () => {
    const status = installed(await topLayerFile(join(LAYERED, 'oci'), first.inventory.image.layers, 'var/lib/dpkg/status'))
    expect(status.size).toBeGreaterThan(100)
    const ours = new Map(first.inventory.packages.filter((p) => p.kind === 'os').map((p) => [p.name, p.version]))
    expect(ours).toEqual(status)
  })
})

/** A file's text from the topmost layer blob that holds it: gunzip + tar-stream, nothing of ours. */
async function topLayerFile(ociDir: string, layers: readonly string[], path: string): Promise<string> {
  for (const digest of [...layers].reverse()) {
    const blob = join(ociDir, 'blobs', 'sha256', digest.slice('sha256:'.length))
    const extract = tar.extract()
    let found: string | undefined
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = []
      const name = header.name.replace(/^\.?\//, '')
      stream.on('data', (c: unknown) => {
        if (name === path) chunks.push(c as Buffer)
      })
      stream.on('end', () => {
        if (name === path) found = Buffer.concat(chunks).toString('utf8')
        next()
      })
    })
    await pipeline(createReadStream(blob), createGunzip(), extract)
    if (found !== undefined) return found
  }
  throw new Error(`${path} is in no layer`)
}
