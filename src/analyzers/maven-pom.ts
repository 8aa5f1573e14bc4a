import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, isRecord, langPackage, utf8 } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * `pom.xml` of a source tree, resolved offline and within the one file (not registered for
 * images: an image's jars carry pom.properties, read by java-archive). Reported:
 *
 * - the project itself, when its groupId, artifactId and version resolve (group and version fall
 *   back to `<parent>`'s, as Maven inherits them);
 * - each `<dependency>` not in `test` scope, its version from the element or else from this
 *   file's `<dependencyManagement>`, with `${…}` resolved from `<properties>`, `project.*`,
 *   `pom.*` and `project.parent.*`. A version that stays unresolved or absent is skipped.
 *
 * What Trivy does more, and Vigil does not (offline, one file): parent POMs (by relativePath, the
 * local ~/.m2 repository or remote repositories) with their properties, dependencyManagement and
 * dependencies; `import`-scope BOMs; transitive dependencies from each dependency's own POM, with
 * exclusions and nearest-wins; `<modules>` aggregation; version ranges and SNAPSHOT metadata.
 *
 * XML through fast-xml-parser: entities, CDATA, comments and namespaces make regex reading wrong.
 */
export const mavenPomAnalyzer: Analyzer = {
  name: 'maven-pom',
  version: 1,
  kind: 'lang',
  maxBytes: 8 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'pom.xml'),
  parse: (bytes, ctx) => ({ packages: parsePom(utf8(bytes), ctx.path, ctx.readRelative) }),
}

const xml = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  removeNSPrefix: true,
  processEntities: true,
  isArray: (name) => name === 'dependency' || name === 'module',
})

/** Parses XML text, turning malformed input into the catalogue's corrupt-database error. */
export function parseXml(text: string, path: string): Record<string, unknown> {
  const valid = XMLValidator.validate(text)
  if (valid !== true) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}:${valid.err.line}: not valid XML (${valid.err.msg})`)
  const doc: unknown = xml.parse(text)
  if (!isRecord(doc)) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: not an XML document`)
  return doc
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() || undefined
  if (typeof v === 'number') return String(v)
  return undefined
}

function record(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : {}
}

function deps(v: unknown): Record<string, unknown>[] {
  const list = record(v).dependency
  return Array.isArray(list) ? list.filter(isRecord) : []
}

type Read = ((relativePath: string) => Uint8Array | undefined) | undefined

interface Dep { groupId?: string; artifactId?: string; version?: string; scope?: string }
interface Model {
  groupId?: string
  artifactId?: string
  version?: string
  parent: { groupId?: string; artifactId?: string; version?: string; relativePath: string }
  props: Map<string, string>
  managed: Dep[]
  deps: Dep[]
  modules: string[]
}

function dep(d: Record<string, unknown>): Dep {
  return { groupId: text(d.groupId), artifactId: text(d.artifactId), version: text(d.version), scope: text(d.scope) }
}

function readModel(source: string, path: string): Model {
  const project = parseXml(source, path).project
  if (!isRecord(project)) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: no <project> element`)
  const parent = record(project.parent)
  const props = new Map<string, string>()
  for (const [k, v] of Object.entries(record(project.properties))) {
    const t = text(v)
    if (t !== undefined) props.set(k, t)
  }
  const modules = record(project.modules).module
  return {
    groupId: text(project.groupId),
    artifactId: text(project.artifactId),
    version: text(project.version),
    parent: { groupId: text(parent.groupId), artifactId: text(parent.artifactId), version: text(parent.version), relativePath: text(parent.relativePath) ?? '../pom.xml' },
    props,
    managed: deps(record(project.dependencyManagement).dependencies).map(dep),
    deps: deps(project.dependencies).map(dep),
    modules: (Array.isArray(modules) ? modules : [modules]).map(text).filter((m): m is string => m !== undefined),
  }
}

const MAX_DEPTH = 16

/** `a/b` + `../c/pom.xml` → `a/c/pom.xml`: where a parent or module sits relative to the scanned file. */
function joinRelative(base: string, rel: string): string {
  const parts = base === '' ? [] : base.split('/')
  for (const seg of rel.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg !== '..') parts.push(seg)
    else if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop()
    else parts.push('..')
  }
  return parts.join('/')
}

function pomFile(rel: string): string {
  return rel.endsWith('.xml') ? rel : `${rel.replace(/\/+$/, '')}/pom.xml`
}

/**
 * Merges the parent chain found in the source tree (relativePath, default `../pom.xml`) into the
 * model: properties, dependencyManagement and dependencies are inherited, the child's win.
 * A parent whose coordinates differ from the declared ones is not the parent (Maven's rule).
 */
function withParents(model: Model, dir: string, read: Read, depth: number): Model {
  const p = model.parent
  if (!read || !p.artifactId || depth >= MAX_DEPTH) return model
  const file = joinRelative(dir, pomFile(p.relativePath))
  const bytes = read(file)
  if (!bytes) return model
  let parent: Model
  try {
    parent = readModel(utf8(bytes), file)
  } catch {
    return model
  }
  const parentGroup = parent.groupId ?? parent.parent.groupId
  if (parent.artifactId !== p.artifactId || (p.groupId && parentGroup && parentGroup !== p.groupId)) return model
  const up = withParents(parent, file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '', read, depth + 1)
  const key = (d: Dep): string => `${d.groupId}:${d.artifactId}`
  const own = new Set(model.deps.map(key))
  return {
    ...model,
    // The parent POM's own coordinates, resolved in its context, beat the <parent> element's
    // text, which may use properties only the parent defines (`${revision}`).
    groupId: model.groupId ?? up.groupId ?? p.groupId,
    version: model.version ?? up.version ?? p.version,
    props: new Map([...up.props, ...model.props, ...prefixed('project.parent', up)]),
    managed: [...model.managed, ...up.managed],
    deps: [...up.deps.filter((d) => !own.has(key(d))), ...model.deps],
  }
}

function prefixed(prefix: string, m: Model): [string, string][] {
  const out: [string, string][] = []
  for (const k of ['groupId', 'artifactId', 'version'] as const) if (m[k] !== undefined) out.push([`${prefix}.${k}`, m[k]])
  return out
}

/** `read` gives files relative to `path`'s folder; without it only this one file is used. */
export function parsePom(source: string, path: string, read?: Read): Package[] {
  const out: Package[] = []
  collect(source, '', path, path, read, out, new Set(['pom.xml']), 0)
  return dedupe(out)
}

function collect(source: string, dir: string, file: string, path: string, read: Read, out: Package[], seen: Set<string>, depth: number): void {
  const model = withParents(readModel(source, file), dir, read, 0)
  const props = new Map(model.props)
  for (const [k, v] of prefixed('project', model)) props.set(k, v)
  for (const [k, v] of prefixed('pom', model)) props.set(k, v)
  for (const k of ['groupId', 'artifactId', 'version'] as const) {
    const v = model.parent[k]
    if (v !== undefined && !props.has(`project.parent.${k}`)) props.set(`project.parent.${k}`, v)
  }
  const resolve = (v: string | undefined): string | undefined => {
    if (v === undefined) return undefined
    let s = v
    // Bounded: a property may name another, and a cycle must not loop.
    for (let i = 0; i < 16 && s.includes('${'); i++) s = s.replace(/\$\{([^}]+)\}/g, (m, k: string) => props.get(k) ?? m)
    return s.includes('${') ? undefined : s
  }

  const managed = new Map<string, Dep>()
  for (const d of model.managed) {
    const ga = `${resolve(d.groupId)}:${resolve(d.artifactId)}`
    // The nearest declaration wins: the child's entries come first.
    if (d.scope !== 'import' && !managed.has(ga)) managed.set(ga, d)
  }

  const [g, a, v] = [resolve(model.groupId), resolve(model.artifactId), resolve(model.version)]
  if (g && a && v) out.push(langPackage('Maven', `${g}:${a}`, v, path))
  for (const d of model.deps) {
    const dg = resolve(d.groupId)
    const da = resolve(d.artifactId)
    if (!dg || !da) continue
    const m = managed.get(`${dg}:${da}`)
    // test and provided scope are not shipped with the artifact; Trivy leaves them out too.
    const scope = d.scope ?? m?.scope
    if (scope === 'test' || scope === 'provided') continue
    const version = resolve(d.version) ?? resolve(m?.version)
    if (version && !/^[[(]/.test(version)) out.push(langPackage('Maven', `${dg}:${da}`, version, path))
  }

  // Aggregated modules in the same tree are part of the build this POM describes.
  if (!read || depth >= MAX_DEPTH) return
  for (const mod of model.modules) {
    const file = joinRelative(dir, pomFile(mod))
    if (seen.has(file)) continue
    seen.add(file)
    const bytes = read(file)
    if (!bytes) continue
    try {
      collect(utf8(bytes), file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '', file, path, read, out, seen, depth + 1)
    } catch (err) {
      if (!VigilError.is(err)) throw err
    }
  }
}
