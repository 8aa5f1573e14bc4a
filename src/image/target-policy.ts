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
 *   admits only what it names. Names are checked as written and as they resolve when the job
 *   starts, and every connection the job opens (registry, token realm, blob storage, in the layer
 *   workers too) checks the address it is about to reach again (ConnectGuard), so a name whose
 *   answer changes in between (DNS rebinding) is caught.
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

/**
 * Every address a host name stands for. The one place names are resolved for the policy, both when
 * a job starts and when a connection opens; tests replace `lookup` to play a resolver whose answer
 * changes in between (DNS rebinding), which no loopback test could arrange otherwise.
 */
export const hostResolver = {
  lookup: async (host: string): Promise<string[]> => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address),
}

/** Addresses `host` stands for: itself when it is an IP, else what the resolver answers. */
async function addressesOf(host: string): Promise<string[]> {
  if (isIP(host)) return [host]
  try {
    return await hostResolver.lookup(host)
  } catch {
    // Unresolvable: the fetch fails on its own (ERR_REGISTRY_UNAVAILABLE); nothing to refuse here.
    return []
  }
}

type RegistryLists = Pick<TargetPolicy, 'allowRegistries' | 'denyRegistries'>

/**
 * Why the lists refuse `host` (port, resolved addresses), or undefined. The allow list speaks for
 * the job's registry only: a token realm or blob storage the registry sends us to is the
 * registry's choice, bounded by the deny list and the link-local rule.
 */
function refusal(host: string, port: string | undefined, addresses: readonly string[], lists: RegistryLists, isRegistry: boolean): string | undefined {
  const named = (list: readonly string[]) => list.some((e) => matches(e, host, port, addresses))
  if (named(lists.denyRegistries)) return 'it is on the registry deny list'
  if (isRegistry && lists.allowRegistries.length > 0 && !named(lists.allowRegistries)) return 'it is not on the registry allow list'
  const special = METADATA_HOSTS.has(host) || addresses.some((a) => LINK_LOCAL.check(a, isIP(a) === 6 ? 'ipv6' : 'ipv4'))
  // A link-local or metadata endpoint is reached only when the allow list names it itself.
  if (special && !named(lists.allowRegistries)) return 'link-local and cloud metadata addresses are never scanned unless the allow list names them'
  return undefined
}

/** Throws ERR_TARGET_INVALID when the policy refuses the registry host (as written or as it resolves). */
export async function checkRegistryHost(registry: string, policy: RegistryLists): Promise<void> {
  const { host, port } = hostOf(registry)
  const why = refusal(host, port, await addressesOf(host), policy, true)
  if (why) throw new VigilError('ERR_TARGET_INVALID', `registry ${registry} is refused: ${why}`)
}

/**
 * What every connection a job opens is checked against, at the moment it connects (the name may
 * resolve differently than when the job started). Plain data: it travels to the layer workers in
 * the blob locator.
 */
export interface ConnectGuard extends RegistryLists {
  /** The job's registry, `host[:port]`: connections to it must also pass the allow list. */
  registry: string
}

export function connectGuard(registry: string, policy: RegistryLists): ConnectGuard {
  return { registry, allowRegistries: [...policy.allowRegistries], denyRegistries: [...policy.denyRegistries] }
}

/**
 * Resolves `hostname` for a connection about to open to it and returns the addresses, after
 * checking them: ERR_TARGET_INVALID when the guard refuses any. The caller connects to one of
 * these addresses, never to a fresh answer, so what was checked is what is reached.
 */
export async function checkConnect(hostname: string, port: string, guard: ConnectGuard): Promise<string[]> {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const addresses = isIP(host) ? [host] : await hostResolver.lookup(host)
  if (addresses.length === 0) throw Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' })
  const registry = hostOf(guard.registry.toLowerCase())
  const isRegistry = registry.host === host && (registry.port === undefined || registry.port === port)
  const why = refusal(host, port, addresses, guard, isRegistry)
  if (why) throw new VigilError('ERR_TARGET_INVALID', `${isRegistry ? `registry ${guard.registry}` : `${host}:${port}, where registry ${guard.registry} sent us,`} is refused when connecting: ${why}`)
  return addresses
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
