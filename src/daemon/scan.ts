import type { Database } from 'lmdb'
import { ANALYZERS, analyzerSetVersion } from '../analyzers/index.js'
import { imageFindings, indexImage, readInventory } from '../assess/index.js'
import { VigilError } from '../errors.js'
import { formatPlatform, parsePlatform, DEFAULT_PLATFORM } from '../image/platform.js'
import { parseTarget, type Target } from '../image/reference.js'
import { RegistryClient } from '../image/registry.js'
import { resolveImage } from '../image/resolve.js'
import { checkTarget, connectGuard, DEFAULT_TARGET_POLICY, type ConnectGuard, type TargetPolicy } from '../image/target-policy.js'
import type { RegistryAuth } from '../image/types.js'
import type { LayerPool } from '../layers/pool.js'
import { matchInventory, type Finding } from '../match/index.js'
import { buildInventory } from '../scan/inventory.js'
import { bindingForTarget, decryptSecret } from '../secrets.js'
import { storeWrite, type Store } from '../store/env.js'
import { readImage } from '../store/images.js'
import type { Inventory } from '../types.js'
import type { ScanJob } from './messages.js'

export interface ScanContext {
  store: Store
  pool: LayerPool
  secretKey: Buffer
  /** `<top manifest digest>|<platform>` → image digest, for tags and indexes already scanned. */
  aliases: Database<string, string>
  /** What a job may name; absent = DEFAULT_TARGET_POLICY (registry images only). */
  targetPolicy?: TargetPolicy
}

export interface ScanOutcome {
  /** The job's image as it named it (a stored inventory keeps the name of its first scan). */
  target: string
  inventory: Inventory
  findings: Finding[]
  /** Answered from the store: the image was indexed before with the same analyzer set. */
  fromStore: boolean
}

export function openAliases(store: Store): Database<string, string> {
  return store.root.openDB({ name: 'daemon-aliases' }) as Database<string, string>
}

/** The job's image as a CLI target string, and its credentials decrypted (memory only). */
export function jobTarget(job: ScanJob, key: Buffer): { target: string; auth?: RegistryAuth } {
  const target = targetOf(job)
  const sealed = job.credentials ?? job.registry?.authorization
  if (sealed === undefined) return { target }
  // Credentials open only for the registry and repository they were sealed for.
  const binding = bindingForTarget(target)
  if (!binding) throw new VigilError('ERR_SECRET', 'credentials were given for a target that is not a registry image')
  const plain = decryptSecret(sealed, key, binding)
  return { target, auth: job.credentials !== undefined ? credentialsAuth(plain) : headerAuth(plain) }
}

/** The job's image as a CLI target string (Harbor's registry + artifact become one). */
function targetOf(job: ScanJob): string {
  if (job.target !== undefined) return job.target
  const { registry, artifact } = job as Required<Pick<ScanJob, 'registry' | 'artifact'>>
  const ref = artifact.digest ? `@${artifact.digest}` : `:${artifact.tag}`
  return `${registry.url.replace(/\/+$/, '')}/${artifact.repository}${ref}`
}

function credentialsAuth(plain: string): RegistryAuth {
  let value: unknown
  try {
    value = JSON.parse(plain)
  } catch {
    throw new VigilError('ERR_SECRET', 'decrypted credentials are not JSON ({"username","password"} or {"token"})')
  }
  const v = value as Record<string, unknown>
  if (typeof v.token === 'string') return { kind: 'bearer', token: v.token }
  if (typeof v.username === 'string' && typeof v.password === 'string') return { kind: 'basic', username: v.username, password: v.password }
  throw new VigilError('ERR_SECRET', 'decrypted credentials need "username" and "password", or "token"')
}

/** Harbor hands over a whole Authorization header value: `Basic <base64 user:pass>` or `Bearer <token>`. */
function headerAuth(header: string): RegistryAuth {
  const m = /^(Basic|Bearer)\s+(\S+)$/i.exec(header.trim())
  if (!m) throw new VigilError('ERR_SECRET', 'registry.authorization must be "Basic …" or "Bearer …" once decrypted')
  if (m[1]!.toLowerCase() === 'bearer') return { kind: 'bearer', token: m[2]! }
  const pair = Buffer.from(m[2]!, 'base64').toString('utf8')
  const colon = pair.indexOf(':')
  if (colon < 0) throw new VigilError('ERR_SECRET', 'registry.authorization Basic value is not base64 of user:password')
  return { kind: 'basic', username: pair.slice(0, colon), password: pair.slice(colon + 1) }
}

/**
 * The manifest digest an already-indexed image would have, found without pulling blobs: local
 * layouts and archives resolve from disk; a registry reference costs one manifest GET (a tag or
 * an index is looked up in the alias table that earlier scans filled). Undefined = unknown.
 */
async function knownDigest(ctx: ScanContext, target: Target, platform: string, asked: string | undefined, auth: RegistryAuth | undefined, guard: ConnectGuard | undefined, signal: AbortSignal): Promise<{ digest?: string; alias?: string }> {
  if (target.kind === 'registry') {
    // A pinned digest that is already an indexed image needs no network at all.
    if (target.digest && readImage(ctx.store, target.digest)) return { digest: target.digest }
    const client = new RegistryClient(target.registry, target.repository, { ...(auth ? { auth } : {}), ...(target.scheme ? { scheme: target.scheme } : {}), http: { signal, ...(guard ? { guard } : {}) } })
    const top = await client.getManifest(target.digest ?? target.tag ?? 'latest')
    const alias = `${top.digest}|${platform}`
    const mediaType = top.mediaType.split(';')[0]!.trim()
    const single = mediaType.endsWith('manifest.v1+json') || mediaType.endsWith('manifest.v2+json')
    return { digest: single ? top.digest : ctx.aliases.get(alias), alias }
  }
  const image = await resolveImage(target, { ...(asked ? { platform: asked } : {}), signal })
  return { digest: image.digest }
}

export async function runScan(ctx: ScanContext, job: ScanJob, signal: AbortSignal): Promise<ScanOutcome> {
  const parsed = parseTarget(targetOf(job))
  if (parsed.kind === 'sbom') throw new VigilError('ERR_TARGET_INVALID', 'the daemon scans images; sbom: targets are for `vigil scan`')
  // Before credentials are opened and before anything is read or fetched.
  const policy = ctx.targetPolicy ?? DEFAULT_TARGET_POLICY
  await checkTarget(parsed, policy)
  // Checked again on every connection the scan opens: the name may resolve differently by then.
  const guard = parsed.kind === 'registry' ? connectGuard(parsed.registry, policy) : undefined
  const { target, auth } = jobTarget(job, ctx.secretKey)
  // Only a platform the job asks for is enforced: a single-platform image (Harbor scans each child
  // of a multi-arch index by digest) is taken as it is; an index still defaults to linux/amd64.
  const asked = job.platform !== undefined ? formatPlatform(parsePlatform(job.platform)) : undefined
  const platform = asked ?? DEFAULT_PLATFORM
  const analyzerSet = analyzerSetVersion(ANALYZERS)

  const known = await knownDigest(ctx, parsed, platform, asked, auth, guard, signal)
  if (known.digest && readImage(ctx.store, known.digest)?.analyzerSet === analyzerSet) {
    const inventory = readInventory(ctx.store, known.digest)
    const findings = imageFindings(ctx.store, known.digest)
    if (inventory && findings) return { target, inventory, findings, fromStore: true }
  }

  const inventory = await buildInventory(target, { ...(asked ? { platform: asked } : {}), ...(auth ? { auth } : {}), ...(guard ? { guard } : {}), store: ctx.store, pool: ctx.pool, signal })
  signal.throwIfAborted()
  const findings = matchInventory(ctx.store, inventory)
  indexImage(ctx.store, inventory, findings)
  if (known.alias) await storeWrite(ctx.aliases.put(known.alias, inventory.image.digest))
  return { target, inventory, findings, fromStore: false }
}
