import { Ajv, type ErrorObject } from 'ajv'
import { Packr, Unpackr } from 'msgpackr'
import { VigilError } from '../errors.js'

/**
 * Message payloads: msgpack by default, JSON when the `Content-Type: application/json` header
 * says so (a result answers in its job's encoding). Every payload may carry `v`; a missing `v`
 * is 1. Schemas are JSON Schema (ajv) so docs/messages.md and the checks cannot drift apart.
 */
export type Encoding = 'msgpack' | 'json'
export const JSON_CONTENT_TYPE = 'application/json'
export const SCHEMA_VERSION = 1

export interface ScanJob {
  v?: 1
  id: string
  target?: string
  registry?: { url: string; authorization?: string }
  artifact?: { repository: string; digest?: string; tag?: string; mime_type?: string }
  platform?: string
  /** Encrypted (src/secrets.ts) JSON: {"username","password"} or {"token"}. */
  credentials?: string
}

export interface ReassessJob {
  v?: 1
  id: string
  digests?: string[]
  all?: boolean
}

export interface FeedDeltaMessage {
  v?: 1
  /** OSV records added or changed. */
  records?: Record<string, unknown>[]
  /** Ids of withdrawn OSV records. */
  withdrawn?: string[]
  /** CVE → EPSS probability and percentile. */
  epss?: Record<string, { epss: number; percentile: number }>
  /** The complete KEV catalogue (CVE ids); CVEs not listed lose KEV membership. */
  kev?: string[]
}

const DIGEST = '^sha256:[0-9a-f]{64}$'
const version = { type: 'integer', enum: [1] }
const jobId = { type: 'string', minLength: 1, maxLength: 256 }

const scanSchema = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: {
    v: version,
    id: jobId,
    target: { type: 'string', minLength: 1, maxLength: 4096 },
    registry: {
      type: 'object', required: ['url'], additionalProperties: false,
      properties: { url: { type: 'string', pattern: '^https?://[^\\s/]+/?$' }, authorization: { type: 'string', maxLength: 65536 } },
    },
    artifact: {
      type: 'object', required: ['repository'], additionalProperties: false,
      properties: {
        repository: { type: 'string', minLength: 1, maxLength: 1024 },
        digest: { type: 'string', pattern: DIGEST },
        tag: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$' },
        mime_type: { type: 'string', maxLength: 256 },
      },
      anyOf: [{ required: ['digest'] }, { required: ['tag'] }],
    },
    platform: { type: 'string', pattern: '^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$' },
    credentials: { type: 'string', maxLength: 65536 },
  },
  oneOf: [{ required: ['target'], not: { anyOf: [{ required: ['registry'] }, { required: ['artifact'] }] } }, { required: ['registry', 'artifact'], not: { required: ['target'] } }],
} as const

const reassessSchema = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: {
    v: version,
    id: jobId,
    digests: { type: 'array', minItems: 1, maxItems: 100_000, items: { type: 'string', pattern: DIGEST } },
    all: { type: 'boolean', const: true },
  },
  oneOf: [{ required: ['digests'], not: { required: ['all'] } }, { required: ['all'], not: { required: ['digests'] } }],
} as const

const feedSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    v: version,
    records: { type: 'array', items: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } } },
    withdrawn: { type: 'array', items: { type: 'string', minLength: 1 } },
    epss: {
      type: 'object',
      additionalProperties: { type: 'object', required: ['epss', 'percentile'], properties: { epss: { type: 'number', minimum: 0, maximum: 1 }, percentile: { type: 'number', minimum: 0, maximum: 1 } } },
    },
    kev: { type: 'array', items: { type: 'string' } },
  },
  anyOf: [{ required: ['records'] }, { required: ['withdrawn'] }, { required: ['epss'] }, { required: ['kev'] }],
} as const

const ajv = new Ajv({ allErrors: false, strict: false })
const validators = {
  scan: ajv.compile<ScanJob>(scanSchema),
  reassess: ajv.compile<ReassessJob>(reassessSchema),
  feed: ajv.compile<FeedDeltaMessage>(feedSchema),
}
export type MessageKind = keyof typeof validators

// Records (plain objects) decode as objects, and Date/Map never appear in our payloads.
const packr = new Packr({ useRecords: false, mapsAsObjects: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })

export function encodingOf(headers: { get(key: string): string } | undefined): Encoding {
  const type = headers?.get('Content-Type') ?? ''
  return type.split(';')[0]!.trim().toLowerCase() === JSON_CONTENT_TYPE ? 'json' : 'msgpack'
}

export function encode(value: unknown, encoding: Encoding): Uint8Array {
  return encoding === 'json' ? Buffer.from(JSON.stringify(value)) : packr.pack(value)
}

/** Bytes → value. Trailing bytes after one msgpack value mean the payload is not what it claims. */
export function decodeBytes(data: Uint8Array, encoding: Encoding, maxBytes: number): unknown {
  if (data.length > maxBytes) throw new VigilError('ERR_MESSAGE_TOO_LARGE', `the message is ${data.length} bytes, over the ${maxBytes}-byte limit`, { details: { bytes: data.length, limit: maxBytes } })
  if (data.length === 0) throw new VigilError('ERR_MESSAGE_INVALID', 'the message is empty')
  try {
    if (encoding === 'json') return JSON.parse(Buffer.from(data).toString('utf8')) as unknown
    const values = unpackr.unpackMultiple(Buffer.from(data.buffer, data.byteOffset, data.byteLength)) as unknown[]
    if (values.length !== 1) throw new Error(`${values.length} msgpack values where one was expected`)
    return values[0]
  } catch (err) {
    throw new VigilError('ERR_MESSAGE_INVALID', `the payload is not valid ${encoding === 'json' ? 'JSON' : 'msgpack'}: ${(err as Error).message.slice(0, 200)}`)
  }
}

/** A job id read from a value that failed validation, so the error can still be answered. */
export function salvageJobId(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return undefined
  const id = (value as { id?: unknown }).id
  return typeof id === 'string' && id.length > 0 && id.length <= 256 ? id : undefined
}

export function validate<K extends MessageKind>(kind: K, value: unknown): K extends 'scan' ? ScanJob : K extends 'reassess' ? ReassessJob : FeedDeltaMessage {
  const check = validators[kind]
  if (!check(value)) throw new VigilError('ERR_MESSAGE_INVALID', `not a valid ${kind} message: ${describe(check.errors)}`)
  return value as never
}

function describe(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0]
  if (!e) return 'schema mismatch'
  return `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`
}
