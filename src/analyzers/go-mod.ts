import { VigilError } from '../errors.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, langPackage, utf8 } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * `go.mod` of a source tree (not registered for images, see lang/lockfiles.ts; images carry Go
 * build info in the binaries). The module graph is what `require` lists after `replace`:
 *
 * - From go 1.17 on, go.mod lists every module in the build (`// indirect` ones too).
 * - Before 1.17 it lists only direct requirements, so, as Trivy does, the `// indirect` lines are
 *   dropped and the neighbouring go.sum supplies the rest (its newest version per module), read
 *   through `ctx.readRelative` when the caller can give neighbours.
 * - `stdlib` is reported at the `toolchain` version, else at a go 1.21+ `go` line with a patch
 *   number (`go 1.22.0` names a minimum toolchain, `go 1.22` only a language version); both in
 *   the `v1.22.5` form the Go vulnerability DB uses.
 *
 * Hand-written: the go.mod grammar is a handful of line directives, and no npm package parses it.
 */
export const goModAnalyzer: Analyzer = {
  name: 'go-mod',
  version: 1,
  kind: 'lang',
  maxBytes: 8 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'go.mod'),
  parse(bytes, ctx) {
    const mod = parseGoModText(utf8(bytes), ctx.path)
    const out = mod.packages.map((m) => langPackage('Go', m.name, m.version, ctx.path))
    if (mod.legacy) {
      const sum = ctx.readRelative?.('go.sum')
      if (sum) {
        const listed = new Set(mod.packages.map((m) => m.name))
        for (const [name, version] of parseGoSumText(utf8(sum), ctx.path)) {
          if (!listed.has(name) && !mod.dropped.has(name)) out.push(langPackage('Go', name, version, ctx.path))
        }
      }
    }
    return { packages: dedupe(out) }
  },
}

interface GoModule { name: string; version: string }
interface ParsedGoMod {
  packages: GoModule[]
  /** go < 1.17 (or no go line): indirect requirements are not all listed. */
  legacy: boolean
  /** Modules replaced by a local directory: not published code, so never reported. */
  dropped: Set<string>
}

interface Replace { from: string; fromVersion?: string; to: string; toVersion?: string }

/** `replace: false` reports requirements as written (Trivy's parser option of the same name). */
export function parseGoModText(text: string, path: string, opts: { replace?: boolean } = {}): ParsedGoMod {
  const requires: (GoModule & { indirect: boolean })[] = []
  const replaces: Replace[] = []
  let goVersion: string | undefined
  let toolchain: string | undefined
  let block: string | undefined
  let lineNo = 0
  for (const raw of text.split(/\r?\n/)) {
    lineNo++
    const indirect = /\/\/\s*indirect\b/.test(raw)
    const line = raw.replace(/\/\/.*$/, '').trim()
    if (line === '') continue
    if (block !== undefined) {
      if (line === ')') {
        block = undefined
        continue
      }
      directive(block, tokens(line, path, lineNo), indirect, lineNo)
      continue
    }
    const words = tokens(line, path, lineNo)
    const verb = words.shift()!
    if (words.length === 1 && words[0] === '(') {
      block = verb
      continue
    }
    directive(verb, words, indirect, lineNo)
  }
  if (block !== undefined) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: unclosed ${block} block`)

  function directive(verb: string, words: string[], indirect: boolean, at: number): void {
    switch (verb) {
      case 'go':
        goVersion = words[0]
        break
      case 'toolchain':
        toolchain = words[0]
        break
      case 'require':
        if (words.length < 2) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}:${at}: require needs a module and a version`)
        requires.push({ name: words[0]!, version: words[1]!, indirect })
        break
      case 'replace': {
        const arrow = words.indexOf('=>')
        if (arrow < 1 || arrow > 2 || words.length < arrow + 2) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}:${at}: bad replace`)
        replaces.push({ from: words[0]!, fromVersion: arrow === 2 ? words[1] : undefined, to: words[arrow + 1]!, toVersion: words[arrow + 2] })
        break
      }
      default:
        // module, exclude, retract, godebug, tool, ignore: nothing to report.
        break
    }
  }

  const legacy = goVersion === undefined || goOlderThan(goVersion, 1, 17)
  const dropped = new Set<string>()
  const packages: GoModule[] = []
  for (const r of requires) {
    if (legacy && r.indirect) continue
    const rep = opts.replace === false ? undefined : replaces.find((x) => x.from === r.name && (x.fromVersion === undefined || x.fromVersion === r.version))
    if (!rep) packages.push({ name: r.name, version: r.version })
    else if (isLocalPath(rep.to)) dropped.add(r.name)
    else packages.push({ name: rep.to, version: rep.toVersion ?? r.version })
  }
  const std = stdlibVersion(toolchain, goVersion)
  if (std) packages.push({ name: 'stdlib', version: std })
  return { packages, legacy, dropped }
}

/** Whitespace-separated words; Go-quoted ones (`"path with space"`) are unquoted. */
function tokens(line: string, path: string, lineNo: number): string[] {
  const out: string[] = []
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|`([^`]*)`|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]!)
  if (out.length === 0) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}:${lineNo}: empty directive`)
  return out
}

function isLocalPath(p: string): boolean {
  return p.startsWith('./') || p.startsWith('../') || p.startsWith('/') || p === '.' || p === '..'
}

function goOlderThan(v: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(v)
  if (!m) return true
  const [a, b] = [Number(m[1]), Number(m[2])]
  return a < major || (a === major && b < minor)
}

/** `go1.22.5` / `1.22.5` / `1.21rc2` → `v1.22.5`, `v1.21.0-rc.2`; undefined before go 1.21. */
function stdlibVersion(toolchain: string | undefined, goVersion: string | undefined): string | undefined {
  // `go 1.23` is a language version; only `go 1.23.0`-style lines name a toolchain (Trivy's rule).
  const raw = toolchain?.replace(/^go/, '').replace(/\+.*$/, '') ?? (goVersion && /^\d+\.\d+\.\d+/.test(goVersion) && !goOlderThan(goVersion, 1, 21) ? goVersion : undefined)
  const m = raw ? /^(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?/.exec(raw) : null
  if (!m) return undefined
  return `v${m[1]}.${m[2]}.${m[3] ?? '0'}${m[4] ? `-${m[4]}.${m[5]}` : ''}`
}

/**
 * go.sum lines `module version[/go.mod] h1:…` → module → highest version recorded (Trivy's gosum
 * parser). Not an analyzer of its own: alone it over-reports, keeping checksums of versions that
 * lost minimal version selection; it only fills in a pre-1.17 go.mod.
 */
export function parseGoSumText(text: string, path: string): Map<string, string> {
  const best = new Map<string, string>()
  let lineNo = 0
  for (const raw of text.split(/\r?\n/)) {
    lineNo++
    const line = raw.trim()
    if (line === '') continue
    const [name, version] = line.split(/\s+/)
    if (!name || !version) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}:${lineNo}: not a go.sum line`)
    const v = version.replace(/\/go\.mod$/, '')
    const prev = best.get(name)
    if (prev === undefined || compareGoSemver(v, prev) > 0) best.set(name, v)
  }
  return best
}

/** Semver precedence for `vMAJOR.MINOR.PATCH[-pre][+build]` (pseudo-versions are pre-releases). */
function compareGoSemver(a: string, b: string): number {
  const pa = splitSemver(a)
  const pb = splitSemver(b)
  for (let i = 0; i < 3; i++) if (pa.core[i] !== pb.core[i]) return pa.core[i]! - pb.core[i]!
  if (pa.pre === pb.pre) return 0
  if (pa.pre === '') return 1
  if (pb.pre === '') return -1
  const xa = pa.pre.split('.')
  const xb = pb.pre.split('.')
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    const [s, t] = [xa[i], xb[i]]
    if (s === undefined) return -1
    if (t === undefined) return 1
    if (s === t) continue
    const [ns, nt] = [/^\d+$/.test(s), /^\d+$/.test(t)]
    if (ns && nt) return Number(s) - Number(t)
    if (ns !== nt) return ns ? -1 : 1
    return s < t ? -1 : 1
  }
  return 0
}

function splitSemver(v: string): { core: number[]; pre: string } {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([^+]*))?/.exec(v)
  if (!m) return { core: [0, 0, 0], pre: v }
  return { core: [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)], pre: m[4] ?? '' }
}
