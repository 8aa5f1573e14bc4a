import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { VigilError } from './errors.js'
import { parseTarget } from './image/reference.js'

/**
 * Registry credentials travel inside job messages, so they are sealed with AES-256-GCM under a key
 * every replica shares. The envelope is text (`v2.<base64 iv|tag|ciphertext>`) so that it fits a
 * JSON job as well as a msgpack one. A `v2` envelope is bound to the registry and repository it was
 * made for: they are GCM's authenticated data, so the same envelope lifted into a job for another
 * registry or repository does not decrypt, and the password never goes there. `v1` envelopes carry
 * no binding and are refused where credentials are used. Decrypted values live only in memory for
 * one pull; they are never stored or logged.
 */
const UNBOUND_VERSION = 'v1'
const BOUND_VERSION = 'v2'
const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_BYTES = 32
export const SECRET_KEY_FILE = 'secret.key'

/** What a credential envelope is made for: a registry host (`host[:port]`) and a repository. */
export interface SecretBinding {
  registry: string
  repository: string
}

/** The binding for credentials used on `target` (parsed as every scan parses it); none for a local target. */
export function bindingForTarget(target: string): SecretBinding | undefined {
  const t = parseTarget(target)
  return t.kind === 'registry' ? { registry: t.registry, repository: t.repository } : undefined
}

/** Harbor's form: `registry.url` and `artifact.repository`, named as the daemon names the target. */
export function bindingForRegistry(url: string, repository: string): SecretBinding {
  const binding = bindingForTarget(`${url.replace(/\/+$/, '')}/${repository}:latest`)
  if (!binding) throw new VigilError('ERR_TARGET_INVALID', 'the registry URL and repository do not name a registry image')
  return binding
}

function associatedData(binding: SecretBinding): Buffer {
  return Buffer.from(`vigil registry credentials\n${binding.registry.toLowerCase()}\n${binding.repository}`, 'utf8')
}

/** Seals `plain`; with a binding (registry credentials) only that registry and repository open it. */
export function encryptSecret(plain: string, key: Buffer, binding?: SecretBinding): string {
  assertKey(key)
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  if (binding) cipher.setAAD(associatedData(binding))
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
  return `${binding ? BOUND_VERSION : UNBOUND_VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`
}

/**
 * Opens an envelope. With `binding` (credentials about to be sent to a registry) only a `v2`
 * envelope made for exactly that registry and repository opens; without one, only a `v1`.
 */
export function decryptSecret(blob: string, key: Buffer, binding?: SecretBinding): string {
  assertKey(key)
  if (typeof blob !== 'string') throw new VigilError('ERR_SECRET', 'an encrypted secret must be a string')
  const dot = blob.indexOf('.')
  const version = dot > 0 ? blob.slice(0, dot) : ''
  if (version !== UNBOUND_VERSION && version !== BOUND_VERSION) throw new VigilError('ERR_SECRET', `unknown secret envelope version "${version.slice(0, 8)}" (expected ${BOUND_VERSION})`)
  if (binding && version !== BOUND_VERSION) {
    throw new VigilError('ERR_SECRET', `registry credentials need a ${BOUND_VERSION} envelope bound to the registry and repository they are for (${binding.registry}/${binding.repository}); this one is ${version} and bound to nothing`)
  }
  if (!binding && version === BOUND_VERSION) throw new VigilError('ERR_SECRET', `a ${BOUND_VERSION} envelope opens only for the registry and repository it was made for`)
  const raw = Buffer.from(blob.slice(dot + 1), 'base64')
  if (raw.length < IV_BYTES + TAG_BYTES) throw new VigilError('ERR_SECRET', 'the encrypted secret is truncated')
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES))
    if (binding) decipher.setAAD(associatedData(binding))
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8')
  } catch {
    // GCM says only "unable to authenticate": a wrong key, another binding and a tampered blob look the same.
    const made = binding ? `, made for another registry or repository than ${binding.registry}/${binding.repository}` : ''
    throw new VigilError('ERR_SECRET', `the secret does not decrypt with this key (wrong VIGIL_SECRET_KEY${made}, or the message was altered)`)
  }
}

/** 32 bytes from base64 or hex text. */
export function parseSecretKey(text: string): Buffer {
  const t = text.trim()
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : /^[A-Za-z0-9+/_-]+={0,2}$/.test(t) ? Buffer.from(t, 'base64') : Buffer.alloc(0)
  if (key.length !== KEY_BYTES) throw new VigilError('ERR_CONFIG', `VIGIL_SECRET_KEY must be ${KEY_BYTES} bytes as base64 or hex (got ${key.length} bytes)`)
  return key
}

export interface LoadedKey {
  key: Buffer
  source: 'env' | 'file' | 'created'
  /** The key file, when the key came from (or was written to) one. */
  path?: string
}

/**
 * VIGIL_SECRET_KEY when set; else `<dataDir>/secret.key`, created (mode 0600) on first use. The
 * caller logs a `created` key: replicas must be given the same key, or they cannot read each
 * other's jobs.
 */
export function loadSecretKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): LoadedKey {
  const fromEnv = env.VIGIL_SECRET_KEY
  if (fromEnv !== undefined && fromEnv !== '') return { key: parseSecretKey(fromEnv), source: 'env' }
  const path = join(dataDir, SECRET_KEY_FILE)
  try {
    return { key: parseSecretKey(readFileSync(path, 'utf8')), source: 'file', path }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (VigilError.is(err)) throw new VigilError('ERR_CONFIG', `${path}: ${err.message}`)
      throw new VigilError('ERR_CONFIG', `cannot read ${path}: ${(err as Error).message}`)
    }
  }
  mkdirSync(dataDir, { recursive: true })
  const key = randomBytes(KEY_BYTES)
  try {
    // `wx` so that two processes starting on one data dir cannot overwrite each other's key.
    writeFileSync(path, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' })
    chmodSync(path, 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { key: parseSecretKey(readFileSync(path, 'utf8')), source: 'file', path }
    throw new VigilError('ERR_CONFIG', `cannot create ${path}: ${(err as Error).message}`)
  }
  return { key, source: 'created', path }
}

function assertKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) throw new VigilError('ERR_SECRET', `the secret key must be ${KEY_BYTES} bytes`)
}
