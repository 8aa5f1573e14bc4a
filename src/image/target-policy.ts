import { lookup } from 'node:dns/promises'
import { realpath, stat } from 'node:fs/promises'
import { BlockList, isIP } from 'node:net'
import { isAbsolute, resolve, sep } from 'node:path'
import { VigilError } from '../errors.js'
import type { Target } from './reference.js'

/**
 * Which targets a scan may name. The CLI scans what its user names (no policy); a job from NATS
 * (or Harbor) comes from whoever can publish there, so the daemon checks each job's target
 * against a policy before anything is opened or fetched:
 *
 * - local paths only below the configured roots (none by default), followed through symlinks, and
 *   only regular files and directories: no FIFO (it would hold a worker forever), device or
 *   /proc, /sys, /dev entry. A refused path gets the same answer whether or not it exists;
 * - registry hosts: link-local addresses (169.254.0.0/16, fe80::/10) and cloud metadata
 *   endpoints are refused unless allowed by name, a deny list refuses, and a non-empty allow list
 *   admits only what it names. Names are checked as written and as they resolve.
 *
 * Entries: a host (`reg.example`), a host with port (`reg.example:5000`), `*.example.com`, an IP
 * address or a CIDR block (`10.0.0.0/8`, `fd00::/8`).
 */
export interface TargetPolicy {
  /** Directories local targets may lie below; empty = no local targets. */
  localRoots: readonly string[]
  /** When non-empty, the only registry hosts allowed. */
  allowRegistries: readonly string[]
  denyRegistries: readonly string[]
}

/** Paths never scanned, whatever the roots say: kernel and device views, not images. */
const SYSTEM_TREES = ['/proc', '/sys', '/dev']

/** Cloud instance metadata endpoints, by name and by address (link-local ones are refused anyway). */
const METADATA_HOSTS = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal', 'metadata.azure.internal', 'metadata.tencentyun.com'])
const METADATA_ADDRESSES = ['169.254.169.254', '169.254.170.2', '100.100.100.200', 'fd00:ec2::254', '192.0.0.192']

const LINK_LOCAL = new BlockList()
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4')
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6')
for (const a of METADATA_ADDRESSES) LINK_LOCAL.addAddress(a, isIP(a) === 6 ? 'ipv6' : 'ipv4')

function refusedLocal(): VigilError {
  // One answer for every refused path, so a job cannot learn what exists on the host.
  return new VigilError('ERR_TARGET_INVALID', 'local targets in jobs must lie below a configured target root (--target-roots); this one does not')
}

/** Throws unless `target` is allowed; a registry target's host is resolved and every address checked. */
export async function checkTarget(target: Target, policy: TargetPolicy): Promise<void> {
  if (target.kind === 'registry') return checkRegistryHost(target.registry, policy)
  const path = 'dir' in target ? target.dir : target.path
  await checkLocalPath(path, target.kind === 'oci' ? 'directory' : target.kind === 'docker-archive' || target.kind === 'sbom' ? 'file' : 'either', policy)
}

/** The policy a daemon has when told nothing: no local targets, every registry but the special ones. */
export const DEFAULT_TARGET_POLICY: TargetPolicy = Object.freeze({ localRoots: [], allowRegistries: [], denyRegistries: [] })

async function checkLocalPath(path: string, want: 'file' | 'directory' | 'either', policy: TargetPolicy): Promise<void> {
  if (policy.localRoots.length === 0 || !isAbsolute(path)) throw refusedLocal()
  const roots = await Promise.all(policy.localRoots.map((r) => realpath(r).catch(() => resolve(r))))
  const inside = (p: string) => !SYSTEM_TREES.some((t) => p === t || p.startsWith(t + sep)) && roots.some((r) => p === r || p.startsWith(r.endsWith(sep) ? r : r + sep))
  // Lexically first (nothing is touched outside the roots), then as symlinks resolve.
  if (!inside(resolve(path))) throw refusedLocal()
  let real: string
  try {
    real = await realpath(path)
  } catch {
    throw new VigilError('ERR_TARGET_NOT_FOUND', `${path} does not exist below the target roots`)
  }
  if (!inside(real)) throw refusedLocal()
  const info = await stat(real)
  const ok = want === 'directory' ? info.isDirectory() : want === 'file' ? info.isFile() : info.isFile() || info.isDirectory()
  if (!ok) throw new VigilError('ERR_TARGET_INVALID', `${path} is not a ${want === 'directory' ? 'directory' : want === 'file' ? 'regular file' : 'regular file or directory'}`)
}

/** `host[:port]` → host without brackets, lower case. */
function hostOf(registry: string): { host: string; port: string | undefined } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(registry)
  const host = (m?.[1] ?? registry).replace(/^\[|\]$/g, '').toLowerCase()
  return { host, port: m?.[2] }
}

function matches(entry: string, host: string, port: string | undefined, addresses: readonly string[]): boolean {
  const e = entry.trim().toLowerCase()
  if (e === '') return false
  const slash = e.indexOf('/')
  if (slash > 0 && isIP(e.slice(0, slash))) {
    const list = new BlockList()
    const family = isIP(e.slice(0, slash)) === 6 ? 'ipv6' : 'ipv4'
    list.addSubnet(e.slice(0, slash), Number(e.slice(slash + 1)), family)
    return addresses.some((a) => list.check(a, isIP(a) === 6 ? 'ipv6' : 'ipv4'))
  }
  if (isIP(e)) return addresses.includes(e) || host === e
  const { host: eh, port: ep } = hostOf(e)
  if (ep !== undefined && ep !== port) return false
  if (eh.startsWith('*.')) return host.endsWith(eh.slice(1))
  return host === eh
}

/** Addresses `host` stands for: itself when it is an IP, else what the resolver answers. */
async function addressesOf(host: string): Promise<string[]> {
  if (isIP(host)) return [host]
  try {
    return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address)
  } catch {
    // Unresolvable: the fetch fails on its own (ERR_REGISTRY_UNAVAILABLE); nothing to refuse here.
    return []
  }
}

/** Throws ERR_TARGET_INVALID when the policy refuses the registry host (as written or as it resolves). */
export async function checkRegistryHost(registry: string, policy: Pick<TargetPolicy, 'allowRegistries' | 'denyRegistries'>): Promise<void> {
  const { host, port } = hostOf(registry)
  const addresses = await addressesOf(host)
  const named = (list: readonly string[]) => list.some((e) => matches(e, host, port, addresses))
  const refuse = (why: string) => new VigilError('ERR_TARGET_INVALID', `registry ${registry} is refused: ${why}`)
  if (named(policy.denyRegistries)) throw refuse('it is on the registry deny list')
  if (policy.allowRegistries.length > 0 && !named(policy.allowRegistries)) throw refuse('it is not on the registry allow list')
  const special = METADATA_HOSTS.has(host) || addresses.some((a) => LINK_LOCAL.check(a, isIP(a) === 6 ? 'ipv6' : 'ipv4'))
  // A link-local or metadata endpoint is reached only when the allow list names it itself.
  if (special && !named(policy.allowRegistries)) throw refuse('link-local and cloud metadata addresses are never scanned unless the allow list names them')
}

/**
 * True for a host that is a link-local or cloud metadata address as written (no lookup): what a
 * redirect or a token realm named by a registry may never lead to.
 */
export function isSpecialHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (METADATA_HOSTS.has(host)) return true
  const family = isIP(host)
  return family !== 0 && LINK_LOCAL.check(host, family === 6 ? 'ipv6' : 'ipv4')
}

/** Parses a comma-separated list (flag or variable); blanks dropped. */
export function parseList(text: string | undefined): string[] {
  return (text ?? '').split(',').map((s) => s.trim()).filter(Boolean)
}
