import { readFile } from 'node:fs/promises'
import { parse as parseYaml } from 'yaml'
import { VigilError } from '../errors.js'

/**
 * The ignore file (`.vigilignore` by default). Two forms:
 *
 *   plain:  one advisory id per line, optional `# comment` (the comment is kept as the reason)
 *           CVE-2023-4911   # not reachable: no setuid binaries in this image
 *
 *   YAML:   a top-level `ignore:` list of entries with `id` and optional `expires` (a date; the
 *           entry stops applying after that day), `reason` and `purls` (limit to those packages;
 *           compared without qualifiers, and without version when the entry's purl has none)
 *           ignore:
 *             - id: CVE-2023-4911
 *               expires: 2026-12-31
 *               reason: glibc fix scheduled with the base image bump
 *               purls: [pkg:deb/debian/libc6]
 */
export interface IgnoreRule {
  id: string
  expires?: string
  reason?: string
  purls?: string[]
  /** File and line (plain) or entry index (YAML), for messages. */
  origin: string
}

export interface IgnoreList {
  rules: IgnoreRule[]
  /** Rules whose `expires` date has passed: reported, not applied. */
  expired: IgnoreRule[]
}

const ID_RE = /^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9:._-]+$/

export async function readIgnoreFile(path: string, now: Date = new Date()): Promise<IgnoreList> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new VigilError('ERR_TARGET_NOT_FOUND', `cannot read ignore file ${path}: ${(err as Error).message}`, { cause: err })
  }
  return parseIgnoreFile(text, path, now)
}

export function parseIgnoreFile(text: string, name = '.vigilignore', now: Date = new Date()): IgnoreList {
  const rules = /^ignore\s*:/m.test(text) ? parseYamlForm(text, name) : parsePlainForm(text, name)
  const today = now.toISOString().slice(0, 10)
  const out: IgnoreList = { rules: [], expired: [] }
  // An entry applies through its `expires` day (compared as YYYY-MM-DD, UTC).
  for (const r of rules) (r.expires && r.expires < today ? out.expired : out.rules).push(r)
  return out
}

function bad(name: string, where: string, why: string): VigilError {
  return new VigilError('ERR_CONFIG', `${name}${where}: ${why}`)
}

function parsePlainForm(text: string, name: string): IgnoreRule[] {
  const rules: IgnoreRule[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const hash = raw.indexOf('#')
    const id = (hash >= 0 ? raw.slice(0, hash) : raw).trim()
    if (id === '') return
    if (!ID_RE.test(id)) throw bad(name, `:${i + 1}`, `"${id}" is not an advisory id (one id per line, optional # comment)`)
    const reason = hash >= 0 ? raw.slice(hash + 1).trim() : ''
    rules.push({ id, ...(reason ? { reason } : {}), origin: `${name}:${i + 1}` })
  })
  return rules
}

function parseYamlForm(text: string, name: string): IgnoreRule[] {
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    throw bad(name, '', `YAML does not parse: ${(err as Error).message}`)
  }
  const list = (doc as { ignore?: unknown } | null)?.ignore
  if (!Array.isArray(list)) throw bad(name, '', '`ignore:` must be a list of entries with an `id`')
  return list.map((entry, i): IgnoreRule => {
    const where = ` ignore[${i}]`
    if (typeof entry === 'string') {
      if (!ID_RE.test(entry)) throw bad(name, where, `"${entry}" is not an advisory id`)
      return { id: entry, origin: `${name}${where}` }
    }
    if (typeof entry !== 'object' || entry === null) throw bad(name, where, 'an entry is an id or a mapping with `id`')
    const e = entry as Record<string, unknown>
    if (typeof e.id !== 'string' || !ID_RE.test(e.id)) throw bad(name, where, '`id` must be an advisory id')
    const rule: IgnoreRule = { id: e.id, origin: `${name}${where}` }
    if (e.expires !== undefined) rule.expires = expiryDate(e.expires, name, where)
    if (e.reason !== undefined) rule.reason = String(e.reason)
    if (e.purls !== undefined) {
      if (!Array.isArray(e.purls) || !e.purls.every((p) => typeof p === 'string' && p.startsWith('pkg:'))) throw bad(name, where, '`purls` must be a list of purls')
      rule.purls = e.purls as string[]
    }
    return rule
  })
}

/** YAML reads `2026-12-31` as a Date (yaml 1.1 timestamps) or a string; both become YYYY-MM-DD. */
function expiryDate(value: unknown, name: string, where: string): string {
  const text = value instanceof Date ? value.toISOString() : String(value)
  const m = /^(\d{4}-\d{2}-\d{2})/.exec(text)
  if (!m?.[1] || Number.isNaN(Date.parse(m[1]))) throw bad(name, where, `expires "${text}" is not a date (YYYY-MM-DD)`)
  return m[1]
}
