import { VigilError } from '../errors.js'
import { isDigest, type Digest } from '../types.js'

/** A parsed scan target (DESIGN.md "Targets"). */
export type Target =
  | { kind: 'oci'; dir: string; tag?: string }
  | { kind: 'docker-archive'; path: string }
  | { kind: 'sbom'; path: string }
  /** A source tree (lockfiles and manifests) or an unpacked root filesystem (installed packages). */
  | { kind: 'dir' | 'rootfs'; path: string }
  | RegistryTarget

export interface RegistryTarget {
  kind: 'registry'
  /** `host[:port]` as the API is reached (`docker.io` becomes `registry-1.docker.io`). */
  registry: string
  /** `library/alpine`, `team/app`. */
  repository: string
  tag?: string
  digest?: Digest
  /** Set when the reference names its scheme (`http://core:8080/library/app:1`). */
  scheme?: 'http' | 'https'
}

export const TARGET_SYNTAX = [
  'oci:DIR[:TAG]            an OCI image layout directory',
  'docker-archive:FILE      a `docker save` tar (legacy or Docker >= 25 layout)',
  'sbom:FILE                a CycloneDX or SPDX JSON SBOM (scan only)',
  'dir:PATH                 a source tree or CI checkout: its lockfiles and manifests',
  'rootfs:PATH              an unpacked root filesystem: OS and installed language packages',
  'HOST[:PORT]/REPO[:TAG]   a registry image, e.g. ghcr.io/org/app:1.2 or alpine:3.19 (Docker Hub)',
  'HOST[:PORT]/REPO@sha256:<64 hex>',
  '[http://|https://]HOST[:PORT]/REPO[:TAG]   with an explicit scheme',
].join('\n  ')

const DOCKER_HUB = 'registry-1.docker.io'
// The distribution reference grammar (docker/distribution reference/regexp.go), restated.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/

function invalid(target: string, why: string): VigilError {
  return new VigilError('ERR_TARGET_INVALID', `invalid target "${target}": ${why}\naccepted targets:\n  ${TARGET_SYNTAX}`)
}

export function parseTarget(input: string): Target {
  const target = input.trim()
  if (target === '') throw invalid(input, 'empty')
  if (target.startsWith('oci:')) return parseOci(target)
  if (target.startsWith('docker-archive:')) {
    const path = target.slice('docker-archive:'.length)
    if (path === '') throw invalid(target, 'docker-archive: needs a file path')
    return { kind: 'docker-archive', path }
  }
  if (target.startsWith('sbom:')) {
    const path = target.slice('sbom:'.length)
    if (path === '') throw invalid(target, 'sbom: needs a file path')
    return { kind: 'sbom', path }
  }
  for (const kind of ['dir', 'rootfs'] as const) {
    if (!target.startsWith(`${kind}:`)) continue
    const path = target.slice(kind.length + 1)
    if (path === '') throw invalid(target, `${kind}: needs a directory`)
    return { kind, path }
  }
  if (target.startsWith('docker://')) return parseRegistryReference(target.slice('docker://'.length), target)
  const scheme = /^(https?):\/\//.exec(target)
  if (scheme) return { ...parseRegistryReference(target.slice(scheme[0].length), target, true), scheme: scheme[1] as 'http' | 'https' }
  if (/^(?:\.{0,2}\/|~)/.test(target) || target === '.' || target === '..') {
    throw invalid(target, `a path needs its kind: dir:${target} for a source tree, rootfs:${target} for an unpacked root filesystem, oci:${target} for a layout directory, docker-archive:${target} for a tar`)
  }
  return parseRegistryReference(target, target)
}

/**
 * `oci:DIR[:TAG]`: the tag is what follows the last colon when it is a valid tag and has no slash,
 * so `oci:/data/img:v1` is DIR `/data/img` + TAG `v1` and `oci:./img` has no tag.
 */
function parseOci(target: string): Target {
  const rest = target.slice('oci:'.length)
  const colon = rest.lastIndexOf(':')
  if (colon > 0) {
    const tag = rest.slice(colon + 1)
    const dir = rest.slice(0, colon)
    if (tag === '') return { kind: 'oci', dir }
    if (!tag.includes('/') && TAG.test(tag)) return { kind: 'oci', dir, tag }
  }
  if (rest === '') throw invalid(target, 'oci: needs a directory')
  return { kind: 'oci', dir: rest }
}

/**
 * `[HOST[:PORT]/]REPO[:TAG][@sha256:HEX]`. The first component is a host when it has a dot or a
 * port or is `localhost` (Docker's rule); otherwise the image is on Docker Hub, where one-part
 * names live under `library/`.
 */
export function parseRegistryReference(ref: string, original: string = ref, hostRequired = false): RegistryTarget {
  let rest = ref
  let digest: Digest | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    const d = rest.slice(at + 1)
    if (!isDigest(d)) throw invalid(original, `"${d}" is not a sha256 digest (sha256:<64 lowercase hex>)`)
    digest = d
    rest = rest.slice(0, at)
  }
  const slash = rest.indexOf('/')
  let registry = 'docker.io'
  const first = slash >= 0 ? rest.slice(0, slash) : ''
  // With an explicit scheme the first component is the host whatever it looks like (`http://core/…`).
  if (slash >= 0 && (hostRequired || first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = first
    rest = rest.slice(slash + 1)
  } else if (hostRequired) {
    throw invalid(original, 'a URL-style reference needs a host')
  }
  if (!HOST.test(registry)) throw invalid(original, `"${registry}" is not a valid registry host`)
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon >= 0) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!TAG.test(tag)) throw invalid(original, `"${tag}" is not a valid tag`)
  }
  if (rest === '') throw invalid(original, 'no repository name')
  const parts = rest.split('/')
  for (const p of parts) {
    if (!PATH_COMPONENT.test(p)) throw invalid(original, `"${rest}" is not a valid repository name (lowercase letters, digits and . _ - separators)`)
  }
  if (registry === 'docker.io' || registry === 'index.docker.io') {
    registry = DOCKER_HUB
    if (parts.length === 1) rest = `library/${rest}`
  }
  if (rest.length > 255) throw invalid(original, 'repository name longer than 255 characters')
  if (tag === undefined && digest === undefined) tag = 'latest'
  return { kind: 'registry', registry, repository: rest, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) }
}

/** The canonical text of a target (what `ResolvedImage.reference` holds). */
export function formatTarget(t: Target): string {
  switch (t.kind) {
    case 'oci':
      return t.tag ? `oci:${t.dir}:${t.tag}` : `oci:${t.dir}`
    case 'docker-archive':
      return `docker-archive:${t.path}`
    case 'sbom':
    case 'dir':
    case 'rootfs':
      return `${t.kind}:${t.path}`
    case 'registry': {
      const scheme = t.scheme ? `${t.scheme}://` : ''
      const tag = t.tag ? `:${t.tag}` : ''
      const digest = t.digest ? `@${t.digest}` : ''
      return `${scheme}${t.registry}/${t.repository}${tag}${digest}`
    }
  }
}

/** Loopback hosts get plain http without asking (DESIGN.md "Security"). */
export function isLoopbackHost(registry: string): boolean {
  let host = registry
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']'))
  else host = host.replace(/:[0-9]+$/, '')
  host = host.toLowerCase()
  if (host === 'localhost' || host === '::1') return true
  return /^127\.(?:[0-9]{1,3}\.){2}[0-9]{1,3}$/.test(host)
}
