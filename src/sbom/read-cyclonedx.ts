import { invalid, type SbomEntries, type SbomEntry } from './read-types.js'

/**
 * CycloneDX JSON → SbomEntries. Read by hand rather than through @cyclonedx/cyclonedx-library:
 * the library serialises but has no JSON deserialiser. Structure is checked as it is walked;
 * anything that is not the shape the spec gives is ERR_SBOM_INVALID.
 */

/** Property prefixes read as facts; Syft's keep a `syft:` prefix so its names stay apart from Vigil's. */
const FACT_PREFIXES: readonly (readonly [prefix: string, key: string])[] = [['vigil:', ''], ['aquasecurity:trivy:', ''], ['syft:metadata:', 'syft:']]
const MAX_DEPTH = 64

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

export function factsOf(properties: unknown, name: string, where: string): Map<string, string[]> {
  const facts = new Map<string, string[]>()
  if (properties === undefined) return facts
  if (!Array.isArray(properties)) throw invalid(name, `${where}: properties is not an array`)
  for (const p of properties) {
    if (!isObject(p) || typeof p.name !== 'string') throw invalid(name, `${where}: a property has no name`)
    if (typeof p.value !== 'string') continue
    const prefix = FACT_PREFIXES.find(([x]) => (p.name as string).startsWith(x))
    if (!prefix) continue
    const key = prefix[1] + p.name.slice(prefix[0].length)
    const list = facts.get(key)
    if (list) list.push(p.value)
    else facts.set(key, [p.value])
  }
  return facts
}

export function readCycloneDxEntries(doc: Json, name: string): SbomEntries {
  const specVersion = doc.specVersion
  if (typeof specVersion !== 'string' || !/^1\.\d+$/.test(specVersion)) throw invalid(name, `CycloneDX specVersion ${JSON.stringify(specVersion)} is not 1.x`)
  const metadata = doc.metadata === undefined ? {} : doc.metadata
  if (!isObject(metadata)) throw invalid(name, 'metadata is not an object')
  const root = metadata.component
  if (root !== undefined && !isObject(root)) throw invalid(name, 'metadata.component is not an object')

  const out: SbomEntries = {
    format: 'cyclonedx',
    specVersion,
    entries: [],
    image: { ...(typeof root?.name === 'string' && root.name ? { name: root.name } : {}), facts: factsOf(root?.properties, name, 'metadata.component') },
  }
  if (doc.components !== undefined && !Array.isArray(doc.components)) throw invalid(name, 'components is not an array')
  walk((doc.components as unknown[] | undefined) ?? [], 0)
  return out

  function walk(components: unknown[], depth: number): void {
    if (depth > MAX_DEPTH) throw invalid(name, `components nest deeper than ${MAX_DEPTH}`)
    for (const [i, c] of components.entries()) {
      if (!isObject(c) || typeof c.type !== 'string' || typeof c.name !== 'string') throw invalid(name, `components[${i}] needs a type and a name`)
      const ref = typeof c['bom-ref'] === 'string' ? c['bom-ref'] : `${c.name}#${i}`
      const facts = factsOf(c.properties, name, `component ${ref}`)
      if (c.type === 'operating-system' && !out.os) {
        if (typeof c.description === 'string' && !facts.has('pretty-name')) facts.set('pretty-name', [c.description])
        out.os = { family: c.name, ...(typeof c.version === 'string' ? { version: c.version } : {}), facts }
      } else if (typeof c.purl === 'string' && c.purl !== '') {
        const entry: SbomEntry = { ref, purl: c.purl, name: c.name, facts }
        if (typeof c.version === 'string') entry.version = c.version
        const location = firstOccurrence(c.evidence)
        if (location) entry.location = location
        out.entries.push(entry)
      }
      if (c.components !== undefined) {
        if (!Array.isArray(c.components)) throw invalid(name, `component ${ref}: components is not an array`)
        walk(c.components, depth + 1)
      }
    }
  }
}

/** CycloneDX 1.5+ `evidence.occurrences[].location` (osv-scalibr puts the package DB path there). */
function firstOccurrence(evidence: unknown): string | undefined {
  if (!isObject(evidence) || !Array.isArray(evidence.occurrences)) return undefined
  const hit = evidence.occurrences.find((o): o is Json => isObject(o) && typeof o.location === 'string')
  return hit ? (hit.location as string).replace(/^\/+/, '') : undefined
}
