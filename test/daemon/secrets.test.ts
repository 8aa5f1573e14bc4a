import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Writable } from 'node:stream'
import { createLogger } from '../../src/daemon/logger.js'
import { decryptSecret, encryptSecret, loadSecretKey, parseSecretKey } from '../../src/secrets.js'

const key = Buffer.alloc(32, 1)
const dirs: string[] = []
const temp = async () => {
  const d = await mkdtemp(join(tmpdir(), 'vigil-secret-'))
  dirs.push(d)
  return d
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

describe('AES-256-GCM secret envelopes', () => {
  it('round-trips, with a fresh IV each time', () => {
    const a = encryptSecret('s3cr3t-password', key)
    const b = encryptSecret('s3cr3t-password', key)
    expect(a).toMatch(/^v1\.[A-Za-z0-9+/=]+$/)
    expect(a).not.toBe(b)
    expect(a).not.toContain('s3cr3t')
    expect(decryptSecret(a, key)).toBe('s3cr3t-password')
  })

  it('refuses a wrong key, a tampered blob, a truncated blob and an unknown version with ERR_SECRET', () => {
    const blob = encryptSecret('hello', key)
    expect(() => decryptSecret(blob, Buffer.alloc(32, 2))).toThrow(expect.objectContaining({ code: 'ERR_SECRET' }))
    const raw = Buffer.from(blob.slice(3), 'base64')
    raw[raw.length - 1]! ^= 1
    expect(() => decryptSecret(`v1.${raw.toString('base64')}`, key)).toThrow(expect.objectContaining({ code: 'ERR_SECRET' }))
    expect(() => decryptSecret('v1.AAAA', key)).toThrow(expect.objectContaining({ code: 'ERR_SECRET' }))
    expect(() => decryptSecret(`v9.${blob.slice(3)}`, key)).toThrow(expect.objectContaining({ code: 'ERR_SECRET' }))
  })

  it('reads VIGIL_SECRET_KEY as base64 or hex of 32 bytes, and nothing else', () => {
    expect(parseSecretKey(key.toString('base64'))).toEqual(key)
    expect(parseSecretKey(key.toString('hex'))).toEqual(key)
    expect(() => parseSecretKey(Buffer.alloc(16).toString('base64'))).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }))
    expect(() => parseSecretKey('not a key!')).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }))
  })

  it('creates <data>/secret.key with mode 0600 once, then reuses it; the environment wins', async () => {
    const dir = await temp()
    const first = loadSecretKey(dir, {})
    expect(first.source).toBe('created')
    expect((await stat(join(dir, 'secret.key'))).mode & 0o777).toBe(0o600)
    const second = loadSecretKey(dir, {})
    expect(second.source).toBe('file')
    expect(second.key).toEqual(first.key)
    const fromEnv = loadSecretKey(dir, { VIGIL_SECRET_KEY: key.toString('hex') })
    expect(fromEnv).toEqual({ key, source: 'env' })
    await writeFile(join(dir, 'secret.key'), 'short\n')
    expect(() => loadSecretKey(dir, {})).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }))
    expect(await readFile(join(dir, 'secret.key'), 'utf8')).toBe('short\n')
  })
})

describe('log redaction', () => {
  it('replaces authorization, password, token and credentials fields wherever a logged object has them', async () => {
    let text = ''
    const sink = new Writable({ write: (chunk, _enc, done) => ((text += String(chunk)), done()) })
    const log = createLogger('info', sink)
    log.info({ job: { id: 'j1', credentials: 'v1.SEALED', registry: { url: 'http://r', authorization: 'Basic c2VjcmV0' } }, headers: { authorization: 'Bearer tok-1' }, password: 'pw-1', auth: { token: 'tok-2' } }, 'job received')
    await new Promise((r) => setImmediate(r))
    for (const secret of ['v1.SEALED', 'c2VjcmV0', 'tok-1', 'pw-1', 'tok-2']) expect(text).not.toContain(secret)
    expect(text).toContain('"id":"j1"')
    expect(text.match(/\[redacted\]/g)?.length).toBe(5)
  })
})
