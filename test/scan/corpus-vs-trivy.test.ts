import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LayerPool } from '../../src/layers/pool.js'
import { buildInventory } from '../../src/scan/inventory.js'
import { purlWithoutQualifiers } from '../../src/sbom/purl.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { tempDir } from '../layers/fixtures.js'
import { CORPUS, HAS_TRIVY, OS_PURL, corpusForms, formName, trivyCycloneDx } from './corpus.js'

const forms = corpusForms()
if (forms.length === 0) console.warn(`[skip] corpus vs Trivy: no images in ${CORPUS} (run /work/shared/tools/corpus/build.sh)`)
if (!HAS_TRIVY) console.warn('[skip] corpus vs Trivy: ../shared/tools/peer-trivy.sh is absent')

/**
 * The OS-package inventory of every corpus image, in every form, is Trivy's: the same purls once
 * qualifiers (arch, distro, epoch) are set aside. Trivy's output lives in this run's temp dir.
 * Both forms of an image hold the same layers, so by default Trivy reads the OCI form once and
 * both of our forms are held to that answer (half the Trivy time); VIGIL_TRIVY_EVERY_FORM=1 runs
 * Trivy on the docker-archive too.
 */
const EVERY_FORM = process.env.VIGIL_TRIVY_EVERY_FORM === '1'
const peerKey = (f: (typeof forms)[number]) => (EVERY_FORM ? formName(f) : `${f.image} ${f.platform ?? ''}`)
describe.skipIf(forms.length === 0 || !HAS_TRIVY)('corpus images: OS packages equal Trivy', () => {
  let pool: LayerPool
  let dir: string
  let cleanup: () => Promise<void>
  const trivy = new Map<string, Promise<Set<string>>>()

  beforeAll(async () => {
    ensureBuilt()
    pool = new LayerPool({ threads: 2 })
    ;({ dir, cleanup } = await tempDir('vigil-trivy-'))
    // Two Trivy runs at a time (two cores), started up front so they overlap our own scans.
    const slots = [Promise.resolve(), Promise.resolve()]
    let started = 0
    forms.forEach((form, i) => {
      if (trivy.has(peerKey(form))) return
      const slot = started++ % 2
      const prev = slots[slot]!
      const p = prev.then(async () => {
        const bom = await trivyCycloneDx(form, join(dir, `trivy-${i}.json`))
        return new Set((bom.components ?? []).map((c) => c.purl ?? '').filter((p) => OS_PURL.test(p)).map(purlWithoutQualifiers))
      })
      slots[slot] = p.then(
        () => undefined,
        () => undefined,
      )
      trivy.set(peerKey(form), p)
    })
  })
  afterAll(async () => {
    await pool?.close()
    await cleanup?.()
  })

  it.each(forms.map((f) => [formName(f), f] as const))('%s', async (_name, form) => {
    const inventory = await buildInventory(form.target, { pool, ...(form.platform ? { platform: form.platform } : {}) })
    const ours = new Set(inventory.packages.filter((p) => p.kind === 'os').map((p) => purlWithoutQualifiers(p.purl)))
    const theirs = await trivy.get(peerKey(form))!
    expect(theirs.size).toBeGreaterThan(0)
    expect([...ours].filter((p) => !theirs.has(p)).sort()).toEqual([])
    expect([...theirs].filter((p) => !ours.has(p)).sort()).toEqual([])
    if (form.platform) expect(inventory.image.platform).toContain('arm64')
  }, 300_000)
})
