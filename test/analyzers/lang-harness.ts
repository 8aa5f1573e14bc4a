import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { VigilError } from '../../src/errors.js'
import type { Analyzer } from '../../src/analyzers/types.js'
import type { Package } from '../../src/types.js'

/** One table-driven case from a trivy/syft `expected.json`, with its package rows from the TSV. */
export interface FixtureCase {
  dir: string
  name: string
  input: string
  inputKind: 'file' | 'dir' | 'txtar'
  wantErr: boolean
  want: Set<string>
}

const INPUT_KEYS: Record<string, FixtureCase['inputKind']> = {
  file: 'file',
  inputFile: 'file',
  input: 'file',
  filePath: 'file',
  dir: 'dir',
  txtar: 'txtar',
}

interface RawCase {
  name?: string | null
  inputs?: Record<string, unknown> | null
  want?: unknown
}

/** Cases whose input exists in the snapshot and whose `want` is a package list or an error. */
/**
 * `joinCalls`: also take inputs written as Go `filepath.Join("testdata", "x", "pom.xml")` calls,
 * which the extraction keeps as `{ call, args }` (opt-in: older callers' case sets stay as they were).
 */
export function loadCases(dir: string, opts: { joinCalls?: boolean } = {}): { cases: FixtureCase[]; absent: string[] } {
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { cases: RawCase[] }
  const rows = new Map<string, Set<string>>()
  for (const line of readFileSync(join(dir, 'expected_packages.tsv'), 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const [rawInput, caseName, name, version] = line.split('\t')
    const input = opts.joinCalls && rawInput?.startsWith('{') ? String(joinCall(JSON.parse(rawInput))) : rawInput
    const key = `${input}\t${caseName}`
    if (!rows.has(key)) rows.set(key, new Set())
    rows.get(key)!.add(`${name}@${version ?? ''}`)
  }
  const cases: FixtureCase[] = []
  const absent: string[] = []
  for (const c of expected.cases) {
    const inputs = Object.entries(c.inputs ?? {}).map(([k, v]): [string, unknown] => [k, opts.joinCalls ? joinCall(v) : v])
    const entry = inputs.find(([k, v]) => k in INPUT_KEYS && typeof v === 'string')
    if (!entry) continue
    const want = c.want as Record<string, unknown> | null | undefined
    const lists = ['want', 'wantPkgs'].map((k) => want?.[k])
    const isPackageCase = want === null || lists.some((l) => l === null || Array.isArray(l) || (typeof l === 'object' && l !== null)) || Boolean(want?.wantErr)
    if (!isPackageCase) continue
    const input = entry[1] as string
    const name = c.name ?? 'None'
    try {
      statSync(join(dir, input))
    } catch {
      absent.push(`${name} (${input})`)
      continue
    }
    // `assert.NoError` is Go's "must not fail" assertion, not an expected error.
    const wantErr = Boolean(want?.wantErr) && want?.wantErr !== 'assert.NoError' && !lists.some((l) => Array.isArray(l) && l.length > 0)
    cases.push({ dir, name, input, inputKind: input.endsWith('.txtar') ? 'txtar' : INPUT_KEYS[entry[0]]!, wantErr, want: rows.get(`${input}\t${name}`) ?? new Set() })
  }
  return { cases, absent }
}

function joinCall(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v
  const { call, args } = v as { call?: unknown; args?: unknown }
  return call === 'filepath.Join' && Array.isArray(args) && args.every((a) => typeof a === 'string') ? args.join('/') : v
}

export function ids(packages: readonly Package[]): Set<string> {
  return new Set(packages.map((p) => `${p.name}@${p.version}`))
}

/** txtar: `-- path --` headers, each followed by that file's text. */
export function readTxtar(text: string): Map<string, string> {
  const files = new Map<string, string>()
  let current: string | undefined
  let body: string[] = []
  for (const line of text.split('\n')) {
    const m = /^-- (.+) --$/.exec(line)
    if (m?.[1]) {
      if (current !== undefined) files.set(current, body.join('\n'))
      current = m[1].trim()
      body = []
    } else if (current !== undefined) body.push(line)
  }
  if (current !== undefined) files.set(current, body.join('\n'))
  return files
}

function walk(root: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(root)) {
    const full = join(root, name)
    if (statSync(full).isDirectory()) out.push(...walk(full))
    else out.push(full)
  }
  return out
}

/** Runs every analyzer that matches each file of a folder or txtar, the way the layer walker would. */
export async function analyzeTree(analyzers: readonly Analyzer[], c: FixtureCase, stats = { matched: 0 }): Promise<Package[]> {
  const files: [string, Uint8Array, number][] =
    c.inputKind === 'txtar'
      ? [...readTxtar(readFileSync(join(c.dir, c.input), 'utf8'))].map(([p, t]) => [p, new TextEncoder().encode(t), 0o644])
      : walk(join(c.dir, c.input)).map((f) => [relative(join(c.dir, c.input), f), readFileSync(f), statSync(f).mode])
  const packages: Package[] = []
  for (const [path, bytes, mode] of files) {
    const file = { path, size: bytes.length, mode }
    for (const a of analyzers) {
      if (!a.match(file)) continue
      if (a.sniff && !a.sniff(bytes.subarray(0, 64))) continue
      stats.matched++
      try {
        packages.push(...((await a.parse(bytes, file)).packages ?? []))
      } catch (err) {
        if (!VigilError.is(err)) throw err
      }
    }
  }
  return packages
}
