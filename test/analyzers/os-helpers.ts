import { readFileSync } from 'node:fs'
import type { Analyzer, AnalyzerResult } from '../../src/analyzers/types.js'
import type { Package } from '../../src/types.js'

/** What an expected-list row says about one package; absent fields are not compared. */
export interface Want {
  name: string
  version: string
  sourceName?: string
  sourceVersion?: string
  arch?: string
  license?: string
  modularityLabel?: string
}

export function readBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path))
}

/** Go's txtar: `-- name --` lines start each file; text before the first is a comment. */
export function readTxtar(path: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>()
  let name: string | undefined
  let body: string[] = []
  const done = (): void => {
    if (name !== undefined) files.set(name, new TextEncoder().encode(body.join('\n') + '\n'))
  }
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.startsWith('-- ') && line.endsWith(' --') && line.length > 6) {
      done()
      name = line.slice(3, -3).trim()
      body = []
    } else {
      body.push(line)
    }
  }
  if (body.length && body[body.length - 1] === '') body.pop()
  done()
  return files
}

/** Data rows of a TSV whose comment lines start with `#`. */
export function tsvRows(path: string): string[][] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split('\t'))
}

/** The `# name epoch version release arch sourcerpm size license vendor modularitylabel` form. */
export function rpmWants(path: string): Want[] {
  return tsvRows(path).map(([name, epoch, version, release, arch, sourceRpm, , license, , label]) => {
    const evr = `${version}-${release}`
    const src = sourceRpm && sourceRpm !== '(none)' ? sourceRpm.replace(/\.src\.rpm$/, '') : undefined
    const srcName = src?.replace(/-[^-]+-[^-]+$/, '')
    return {
      name: name!,
      version: epoch ? `${epoch}:${evr}` : evr,
      ...(arch && arch !== '(none)' ? { arch } : {}),
      ...(src && srcName ? { sourceName: srcName, sourceVersion: src.slice(srcName.length + 1) } : {}),
      ...(license ? { license } : {}),
      ...(label ? { modularityLabel: label } : {}),
    }
  })
}

export interface Agreement {
  fixture: string
  expected: number
  got: number
  agreed: number
  mismatches: string[]
}

function describeWant(w: Want): string {
  return `${w.name}@${w.version}`
}

/** Every expected package must be found with every field it states; extra packages count against. */
export function agreement(fixture: string, got: readonly Package[], wants: readonly Want[]): Agreement {
  const byName = new Map<string, Package[]>()
  for (const p of got) byName.set(p.name, [...(byName.get(p.name) ?? []), p])
  const mismatches: string[] = []
  const used = new Set<Package>()
  let agreed = 0
  for (const w of wants) {
    const candidates = (byName.get(w.name) ?? []).filter((p) => !used.has(p))
    const problems = (p: Package): string[] => {
      const out: string[] = []
      if (p.version !== w.version) out.push(`version ${p.version} ≠ ${w.version}`)
      if (w.arch !== undefined && p.arch !== w.arch) out.push(`arch ${p.arch} ≠ ${w.arch}`)
      if (w.sourceName !== undefined && p.source?.name !== w.sourceName) out.push(`source ${p.source?.name} ≠ ${w.sourceName}`)
      if (w.sourceVersion !== undefined && p.source?.version !== w.sourceVersion) out.push(`source version ${p.source?.version} ≠ ${w.sourceVersion}`)
      if (w.license !== undefined && p.licenses?.[0] !== w.license) out.push(`license ${p.licenses?.[0]} ≠ ${w.license}`)
      if (w.modularityLabel !== undefined && p.modularityLabel !== w.modularityLabel) out.push(`modularitylabel ${p.modularityLabel} ≠ ${w.modularityLabel}`)
      return out
    }
    const exact = candidates.find((p) => problems(p).length === 0)
    if (exact) {
      used.add(exact)
      agreed++
    } else {
      mismatches.push(`${describeWant(w)}: ${candidates.length ? problems(candidates[0]!).join(', ') : 'missing'}`)
    }
  }
  for (const p of got) if (!used.has(p)) mismatches.push(`unexpected ${p.name}@${p.version}`)
  return { fixture, expected: wants.length, got: got.length, agreed, mismatches }
}

export async function parseWith(analyzer: Analyzer, bytes: Uint8Array, path: string): Promise<AnalyzerResult> {
  return analyzer.parse(bytes, { path, size: bytes.length, mode: 0o644 })
}

/** A deterministic PRNG (mulberry32) so corruption tests are reproducible: the benches' one. */
export { seeded as prng } from '../../bench/reassess-fleet.js'
