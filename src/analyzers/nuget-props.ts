import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { baseName, dedupe, isRecord, langPackage, utf8 } from './lang/common.js'
import { XMLParser, XMLValidator } from 'fast-xml-parser'

/**
 * `Directory.Packages.props` / `packages.props` (central package management; not registered for
 * images). Each `PackageVersion` / `PackageReference` with `Include` (or `Update`) and `Version`
 * attributes. MSBuild properties (`$(Var)`) are not evaluated, so such names and versions are
 * skipped, as Trivy skips them. XML through fast-xml-parser (attributes, comments, entities).
 */
export const nugetPropsAnalyzer: Analyzer = {
  name: 'nuget-props',
  version: 1,
  kind: 'lang',
  maxBytes: 4 * 1024 * 1024,
  match(file: FileInfo) {
    if (!/packages\.props$/i.test(file.path)) return false
    const base = baseName(file.path).toLowerCase()
    return base === 'directory.packages.props' || base === 'packages.props'
  },
  parse: (bytes, ctx) => ({ packages: parsePackagesProps(utf8(bytes), ctx.path) }),
}

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (name) => name === 'ItemGroup' || name === 'PackageVersion' || name === 'PackageReference',
})

export function parsePackagesProps(text: string, path: string): Package[] {
  const valid = XMLValidator.validate(text)
  if (valid !== true) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}:${valid.err.line}: not valid XML (${valid.err.msg})`)
  const doc: unknown = xml.parse(text)
  const project = isRecord(doc) ? doc.Project : undefined
  if (!isRecord(project) && project !== '') throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: no <Project> element`)
  const out: Package[] = []
  const groups = isRecord(project) && Array.isArray(project.ItemGroup) ? project.ItemGroup : []
  for (const group of groups) {
    if (!isRecord(group)) continue
    for (const item of [...list(group.PackageVersion), ...list(group.PackageReference)]) {
      const name = attr(item, 'Include') ?? attr(item, 'Update')
      const version = attr(item, 'Version')
      if (name && version && !name.includes('$(') && !version.includes('$(')) out.push(langPackage('NuGet', name, version, path))
    }
  }
  return dedupe(out)
}

function list(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.filter(isRecord) : []
}

function attr(item: Record<string, unknown>, key: string): string | undefined {
  const v = item[`@${key}`]
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined
}
