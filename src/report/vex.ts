import { readFile } from 'node:fs/promises'
import type { PackageURL } from 'packageurl-js'
import { VigilError } from '../errors.js'
import type { Finding } from '../match/types.js'
import { parsePurl } from '../sbom/purl.js'
import type { ImageInfo } from '../types.js'
import type { Suppression } from './types.js'

/**
 * OpenVEX (v0.0.1 and v0.2.0 JSON). A statement decides a finding when it names the finding's
 * advisory (id or an alias) and one of its products is the finding's package — the product
 * itself, or a subcomponent of a product that is this image (an `oci` purl with the image's
 * digest) or any non-image product (Trivy writes the application's own purl there). Purls are
 * compared without qualifiers, and without version when the statement's purl has none.
 * The latest matching statement wins (by timestamp, then document order); `not_affected` and
 * `fixed` suppress the finding, `affected` and `under_investigation` keep it.
 */

export type VexStatus = 'not_affected' | 'affected' | 'fixed' | 'under_investigation'
const STATUSES: readonly string[] = ['not_affected', 'affected', 'fixed', 'under_investigation']

interface Statement {
  vulns: Set<string>
  products: { purl?: PackageURL; sub: PackageURL[] }[]
  status: VexStatus
  justification?: string
  impact?: string
  time: number
  source: string
}

export interface VexDocument {
  statements: Statement[]
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

export async function readVexFile(path: string): Promise<VexDocument> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new VigilError('ERR_TARGET_NOT_FOUND', `cannot read VEX file ${path}: ${(err as Error).message}`, { cause: err })
  }
  return parseVex(text, path)
}

export function parseVex(text: string, name = 'vex.json'): VexDocument {
  const bad = (why: string) => new VigilError('ERR_CONFIG', `${name}: not an OpenVEX document: ${why}`)
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw bad((err as Error).message)
  }
  if (!isObject(doc) || typeof doc['@context'] !== 'string' || !doc['@context'].startsWith('https://openvex.dev/ns')) throw bad('@context is not https://openvex.dev/ns/…')
  if (!Array.isArray(doc.statements)) throw bad('statements is not an array')
  const docTime = Date.parse(String(doc.timestamp ?? '')) || 0
  const statements = doc.statements.map((s, i): Statement => {
    if (!isObject(s)) throw bad(`statements[${i}] is not an object`)
    if (typeof s.status !== 'string' || !STATUSES.includes(s.status)) throw bad(`statements[${i}].status ${JSON.stringify(s.status)} is not one of ${STATUSES.join(', ')}`)
    const vulns = vulnNames(s.vulnerability)
    if (vulns.size === 0) throw bad(`statements[${i}] names no vulnerability`)
    const products = Array.isArray(s.products) ? s.products.map(product) : []
    return {
      vulns,
      products,
      status: s.status as VexStatus,
      ...(typeof s.justification === 'string' ? { justification: s.justification } : {}),
      ...(typeof s.impact_statement === 'string' ? { impact: s.impact_statement } : {}),
      time: Date.parse(String(s.timestamp ?? '')) || docTime,
      source: name,
    }
  })
  return { statements }
}

/** v0.0.1: a string; v0.2.0: `{ "@id", "name", "aliases" }`. */
function vulnNames(v: unknown): Set<string> {
  const out = new Set<string>()
  if (typeof v === 'string') out.add(v)
  else if (isObject(v)) {
    for (const key of ['name', '@id']) if (typeof v[key] === 'string') out.add(v[key] as string)
    if (Array.isArray(v.aliases)) for (const a of v.aliases) if (typeof a === 'string') out.add(a)
  }
  return out
}

function purlOf(node: unknown): PackageURL | undefined {
  const id = typeof node === 'string' ? node : isObject(node) ? ((isObject(node.identifiers) && node.identifiers.purl) || node['@id']) : undefined
  if (typeof id !== 'string' || !id.startsWith('pkg:')) return undefined
  try {
    return parsePurl(id)
  } catch {
    return undefined // an IRI that is not a purl names nothing Vigil can match
  }
}

function product(node: unknown): Statement['products'][number] {
  const purl = purlOf(node)
  const subs = isObject(node) && Array.isArray(node.subcomponents) ? node.subcomponents.map(purlOf).filter((p): p is PackageURL => p !== undefined) : []
  return { ...(purl ? { purl } : {}), sub: subs }
}

function samePackage(statement: PackageURL, pkg: PackageURL): boolean {
  return statement.type === pkg.type && (statement.namespace ?? '') === (pkg.namespace ?? '') && statement.name === pkg.name && (!statement.version || statement.version === pkg.version)
}

function isThisImage(p: PackageURL, image: ImageInfo): boolean {
  return p.type === 'oci' && (!p.version || p.version === image.digest)
}

function applies(s: Statement, f: Finding, pkg: PackageURL | undefined, image: ImageInfo): boolean {
  if (!s.vulns.has(f.id) && !f.aliases.some((a) => s.vulns.has(a))) return false
  return s.products.some((p) => {
    if (p.sub.length > 0) {
      // Subcomponents scope the statement; the product must not name some other image.
      if (p.purl?.type === 'oci' && !isThisImage(p.purl, image)) return false
      return pkg !== undefined && p.sub.some((sub) => samePackage(sub, pkg))
    }
    if (!p.purl) return false
    if (p.purl.type === 'oci') return isThisImage(p.purl, image)
    return pkg !== undefined && samePackage(p.purl, pkg)
  })
}

/** The suppression the VEX documents give a finding, if its latest matching statement is one. */
export function vexSuppression(docs: readonly VexDocument[], f: Finding, image: ImageInfo): Suppression | undefined {
  let pkg: PackageURL | undefined
  try {
    pkg = parsePurl(f.purl)
  } catch {
    pkg = undefined
  }
  let latest: Statement | undefined
  for (const doc of docs) {
    for (const s of doc.statements) {
      if (!applies(s, f, pkg, image)) continue
      // Iteration is in file and statement order, so `>=` lets the later of two equal times win.
      if (!latest || s.time >= latest.time) latest = s
    }
  }
  if (!latest || (latest.status !== 'not_affected' && latest.status !== 'fixed')) return undefined
  return {
    kind: 'vex',
    status: latest.status,
    ...(latest.justification ? { justification: latest.justification } : {}),
    ...(latest.impact ? { statement: latest.impact } : {}),
    source: latest.source,
  }
}
