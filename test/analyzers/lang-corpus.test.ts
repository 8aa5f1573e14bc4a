import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LayerPool } from '../../src/layers/pool.js'
import { buildInventory } from '../../src/scan/inventory.js'
import { purlWithoutQualifiers } from '../../src/sbom/purl.js'
import type { Package } from '../../src/types.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { tempDir } from '../layers/fixtures.js'
import { CORPUS, HAS_TRIVY, corpusForms, trivyCycloneDx } from '../scan/corpus.js'

/** The corpus images with language packages (or, for debian-layered, with none). */
const IMAGES = ['debian-node-app', 'debian-go-bins', 'debian-java', 'debian-layered']
const forms = corpusForms().filter((f) => f.form === 'oci' && !f.platform && IMAGES.includes(f.image))
if (forms.length === 0) console.warn(`[skip] language packages vs Trivy: no corpus images in ${CORPUS}`)
if (!HAS_TRIVY) console.warn('[skip] language packages vs Trivy: ../shared/tools/peer-trivy.sh is absent')

const OS_PURL = /^pkg:(deb|apk|rpm)\//

interface TrivyComponent {
  purl?: string
  type?: string
  name?: string
  properties?: { name: string; value: string }[]
  components?: TrivyComponent[]
}

/** Language purls in Trivy's CycloneDX (nested under their application component in 0.44). */
function trivyLangPurls(components: TrivyComponent[] | undefined, out = new Set<string>()): Set<string> {
  for (const c of components ?? []) {
    if (c.purl && !OS_PURL.test(c.purl)) out.add(purlWithoutQualifiers(c.purl))
    trivyLangPurls(c.components, out)
  }
  return out
}

/**
 * Vigil's language inventory (OS-owned packages left out) is Trivy 0.44's, except for the
 * differences docs/analyzers-lang.md ("Corpus comparison") explains, each checked precisely here:
 * - Trivy-only purls may only be packages Vigil found too but marked osOwned (none on this
 *   corpus today: both sides leave out the dpkg-owned jackson jars, Go binaries and
 *   /usr/share/nodejs package.json files).
 * - Vigil-only purls must be the Go toolchain (`pkg:golang/stdlib`) or the main module of a Go
 *   binary, which Trivy 0.44 (the peer) does not report and later Trivy versions do.
 */
describe.skipIf(forms.length === 0 || !HAS_TRIVY)('corpus images: language packages vs Trivy', () => {
  let pool: LayerPool
  let dir: string
  let cleanup: () => Promise<void>
  const trivy = new Map<string, Promise<Set<string>>>()

  beforeAll(async () => {
    ensureBuilt()
    pool = new LayerPool({ threads: 2 })
    ;({ dir, cleanup } = await tempDir('vigil-lang-trivy-'))
    let chain = Promise.resolve()
    for (const form of forms) {
      // One Trivy at a time: our own scans use the other core.
      const p = chain.then(async () => trivyLangPurls((await trivyCycloneDx(form, join(dir, `${form.image}.json`))).components as TrivyComponent[]))
      chain = p.then(
        () => undefined,
        () => undefined,
      )
      trivy.set(form.image, p)
    }
  })
  afterAll(async () => {
    await pool?.close()
    await cleanup?.()
  })

  it.each(forms.map((f) => [f.image, f] as const))('%s', async (image, form) => {
    const inventory = await buildInventory(form.target, { pool })
    const lang = inventory.packages.filter((p) => p.kind === 'lang')
    const ours = new Set(lang.filter((p) => !p.osOwned).map((p) => purlWithoutQualifiers(p.purl)))
    const owned = new Set(lang.filter((p) => p.osOwned).map((p) => purlWithoutQualifiers(p.purl)))
    const theirs = await trivy.get(image)!
    const onlyTrivy = [...theirs].filter((p) => !ours.has(p)).sort()
    const onlyVigil = [...ours].filter((p) => !theirs.has(p)).sort()
    console.log(`[lang corpus] ${image}: Vigil ${ours.size} (+${owned.size} OS-owned), Trivy ${theirs.size}; only Trivy ${onlyTrivy.length}, only Vigil ${onlyVigil.length}`)

    expect(onlyTrivy.filter((p) => !owned.has(p))).toEqual([])
    const goMains = new Set(lang.filter((p) => p.ecosystem === 'Go').map((p) => mainModuleOf(lang, p.path)).filter(Boolean))
    expect(onlyVigil.filter((p) => !p.startsWith('pkg:golang/stdlib@') && !goMains.has(p))).toEqual([])
    if (image === 'debian-node-app') expect(ours.size).toBe(55)
    if (image === 'debian-layered') expect(ours.size).toBe(0)
  }, 300_000)
})

/** goPackages emits a binary's modules as deps…, main, stdlib: the main module sits just before stdlib. */
function mainModuleOf(lang: Package[], path: string): string | undefined {
  const mods = lang.filter((p) => p.path === path && p.ecosystem === 'Go')
  const stdlib = mods.findIndex((p) => p.name === 'stdlib')
  const main = stdlib > 0 ? mods[stdlib - 1] : undefined
  return main ? purlWithoutQualifiers(main.purl) : undefined
}
