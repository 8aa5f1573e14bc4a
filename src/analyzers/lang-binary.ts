import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { langPackage } from './lang/common.js'
import { isElf, readElf } from './lang/elf.js'
import { type GoBuildInfo, readGoBuildInfo } from './lang/go-buildinfo.js'
import { readRustAudit } from './lang/rust-audit.js'

/** Smaller executables cannot hold Go build info or a cargo-auditable section. */
const MIN_BINARY = 4096

/**
 * Compiled binaries that carry their dependency list: Go build info and cargo-auditable
 * `.dep-v0`. Found by content (executable + ELF magic), not by name. One analyzer for both so a
 * large binary is read once. maxBytes is 256 MiB: the largest Go binaries in common images
 * (kubelet, terraform providers) are 100–200 MiB, and the walker holds the file in memory.
 */
export const langBinaryAnalyzer: Analyzer = {
  name: 'lang-binary',
  version: 1,
  kind: 'lang',
  maxBytes: 256 * 1024 * 1024,
  match(file: FileInfo): boolean {
    return (file.mode & 0o111) !== 0 && file.size >= MIN_BINARY
  },
  sniff(head: Uint8Array): boolean {
    return isElf(head)
  },
  parse(bytes, ctx) {
    const elf = readElf(bytes, ctx.path)
    const packages: Package[] = []
    const go = readGoBuildInfo(bytes, elf)
    if (go) packages.push(...goPackages(go, ctx.path))
    const crates = readRustAudit(bytes, elf, ctx.path)
    for (const c of crates ?? []) packages.push(langPackage('crates.io', c.name, c.version, ctx.path))
    return { packages }
  },
}

/**
 * Trivy's reading of build info: replaced modules report the replacement; the main module's
 * `(devel)` version is empty unless `-ldflags -X <pkg>.version=<semver>` set one; the toolchain
 * is the package `stdlib` with a `v`-prefixed version.
 */
export function goPackages(info: GoBuildInfo, path: string): Package[] {
  const out: Package[] = []
  for (const dep of info.deps) {
    if (!dep.path) continue
    const mod = dep.replace ?? dep
    out.push(langPackage('Go', mod.path, mod.version, path))
  }
  if (info.main?.path) {
    let version = info.main.version === '(devel)' ? '' : info.main.version
    if (!version) version = ldflagsVersion(info.settings.get('-ldflags') ?? '') ?? ''
    out.push(langPackage('Go', info.main.path, version, path))
  }
  const toolchain = stdlibVersion(info.goVersion)
  if (toolchain) out.push(langPackage('Go', 'stdlib', toolchain, path))
  return out
}

/**
 * `go1.20` → `v1.20.0`, `go1.21.5 X:loopvar` → `v1.21.5`, `go1.21rc2` → `v1.21.0-rc.2`: the
 * semver form the Go vulnerability database uses for the standard library.
 */
export function stdlibVersion(goVersion: string): string | undefined {
  const m = /^go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?/.exec(goVersion)
  if (!m) return undefined
  const pre = m[4] ? `-${m[4]}.${m[5]}` : ''
  return `v${m[1]}.${m[2]}.${m[3] ?? '0'}${pre}`
}

const SEMVER_RE = /^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$/

export function ldflagsVersion(flags: string): string | undefined {
  const re = /-X(?:=|\s+)['"]?([^=\s'"]+)=([^\s'"]+)/g
  for (const m of flags.matchAll(re)) {
    const key = (m[1] ?? '').toLowerCase()
    const value = m[2] ?? ''
    if ((key.endsWith('.version') || key.endsWith('.ver')) && SEMVER_RE.test(value)) return value.startsWith('v') ? value : `v${value}`
  }
  return undefined
}
