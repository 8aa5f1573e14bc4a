import { invalid, type SbomEntries, type SbomEntry } from './read-types.js'
import { VIGIL_ANNOTATION_PREFIX } from './spdx.js'

/**
 * SPDX 2.x JSON → SbomEntries. Facts come from Vigil's package annotations (`vigil:key=value`
 * lines, see spdx.ts) and Trivy's `attributionTexts` (`Key: value`).
 */

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

function add(facts: Map<string, string[]>, key: string, value: string): void {
  const list = facts.get(key)
  if (list) list.push(value)
  else facts.set(key, [value])
}

function factsOf(pkg: Json): Map<string, string[]> {
  const facts = new Map<string, string[]>()
  if (Array.isArray(pkg.annotations)) {
    for (const a of pkg.annotations) {
      if (!isObject(a) || typeof a.comment !== 'string') continue
      for (const line of a.comment.split('\n')) {
        if (!line.startsWith(VIGIL_ANNOTATION_PREFIX)) continue
        const eq = line.indexOf('=')
        if (eq > 0) add(facts, line.slice(VIGIL_ANNOTATION_PREFIX.length, eq), line.slice(eq + 1))
      }
    }
  }
  if (Array.isArray(pkg.attributionTexts)) {
    for (const t of pkg.attributionTexts) {
      const m = typeof t === 'string' ? /^([A-Za-z]+): (.+)$/.exec(t) : null
      if (m?.[1] && m[2]) add(facts, m[1], m[2])
    }
  }
  return facts
}

function purlOf(pkg: Json): string | undefined {
  if (!Array.isArray(pkg.externalRefs)) return undefined
  const ref = pkg.externalRefs.find((r): r is Json => isObject(r) && r.referenceType === 'purl' && typeof r.referenceLocator === 'string')
  return ref ? (ref.referenceLocator as string) : undefined
}

export function readSpdxEntries(doc: Json, name: string): SbomEntries {
  const specVersion = String(doc.spdxVersion).slice('SPDX-'.length)
  if (doc.packages !== undefined && !Array.isArray(doc.packages)) throw invalid(name, 'packages is not an array')
  const packages = (doc.packages as unknown[] | undefined) ?? []
  for (const [i, p] of packages.entries()) {
    if (!isObject(p) || typeof p.SPDXID !== 'string' || typeof p.name !== 'string') throw invalid(name, `packages[${i}] needs an SPDXID and a name`)
  }
  const pkgs = packages as Json[]
  const relationships = Array.isArray(doc.relationships) ? doc.relationships.filter(isObject) : []
  const described = new Set<string>([
    ...(Array.isArray(doc.documentDescribes) ? doc.documentDescribes.filter((x): x is string => typeof x === 'string') : []),
    ...relationships.filter((r) => r.relationshipType === 'DESCRIBES' && r.spdxElementId === 'SPDXRef-DOCUMENT').map((r) => String(r.relatedSpdxElement)),
  ])
  const root = pkgs.find((p) => described.has(p.SPDXID as string) && (p.primaryPackagePurpose === 'CONTAINER' || String(p.SPDXID).startsWith('SPDXRef-ContainerImage')))
  const osPkg = pkgs.find((p) => p.primaryPackagePurpose === 'OPERATING_SYSTEM' || String(p.SPDXID).startsWith('SPDXRef-OperatingSystem'))

  const out: SbomEntries = {
    format: 'spdx',
    specVersion,
    entries: [],
    image: root ? { name: root.name as string, facts: factsOf(root) } : { ...(typeof doc.name === 'string' ? { name: doc.name } : {}), facts: new Map() },
  }
  if (root && typeof root.versionInfo === 'string' && !out.image.facts.has('image:digest')) out.image.facts.set('image:digest', [root.versionInfo])
  if (osPkg) out.os = { family: osPkg.name as string, ...(typeof osPkg.versionInfo === 'string' ? { version: osPkg.versionInfo } : {}), facts: factsOf(osPkg) }

  for (const p of pkgs) {
    if (p === root || p === osPkg) continue
    const purl = purlOf(p)
    if (!purl) continue
    const entry: SbomEntry = { ref: p.SPDXID as string, purl, name: p.name as string, facts: factsOf(p) }
    if (typeof p.versionInfo === 'string') entry.version = p.versionInfo
    const built = typeof p.sourceInfo === 'string' ? /^built package from: (\S+)(?: (\S+))?$/.exec(p.sourceInfo) : null
    if (built?.[1]) entry.source = { name: built[1], ...(built[2] ? { version: built[2] } : {}) }
    out.entries.push(entry)
  }
  return out
}
