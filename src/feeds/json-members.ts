/**
 * The members of a top-level JSON object, one at a time, from a byte stream: `{"a": …, "b": …}`
 * yields `a` with the text of its value, then `b`. Memory is one member (the Debian tracker's
 * largest, `linux`, is a few MB of a document of tens to hundreds of MB).
 *
 * Hand-written rather than a streaming JSON parser such as @streamparser/json: this only finds
 * member boundaries (string and bracket state, one pass over the bytes) and leaves each member to
 * the native JSON.parse. On a generated 40 MB tracker file (52,290 packages) that took 0.6
 * CPU-seconds; @streamparser/json 0.0.22 emitting the same members (`paths: ['$.*']`) took 1.2.
 */
export type Member = { key: string; text: string } | { key: string; tooLarge: number }

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_OBJ = 0x7b
const CLOSE_OBJ = 0x7d
const OPEN_ARR = 0x5b
const CLOSE_ARR = 0x5d
const COMMA = 0x2c
const COLON = 0x3a

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09

/** Thrown for a document that is not one complete object (cut short, or not JSON). */
export class JsonStructureError extends Error {}

export async function* objectMembers(chunks: AsyncIterable<Uint8Array>, maxMember: number): AsyncGenerator<Member> {
  // where: before the top-level `{`, expecting a key (or `}`), in a key, expecting `:`, before a
  // value, in a value, after a value, after the top-level `}`.
  let where = 'start' as 'start' | 'key?' | 'key' | 'colon' | 'value?' | 'value' | 'next' | 'end'
  let inString = false
  let escaped = false
  let depth = 0
  let keyParts: Buffer[] = []
  let key = ''
  let parts: Buffer[] = []
  let size = 0
  let tooLarge = 0
  let offset = 0

  const take = (buf: Buffer, from: number, to: number) => {
    if (to <= from) return
    if (tooLarge > 0 || size + (to - from) > maxMember) {
      tooLarge += size + (to - from)
      parts = []
      size = 0
      return
    }
    parts.push(Buffer.from(buf.subarray(from, to)))
    size += to - from
  }
  const member = (): Member => {
    const m: Member = tooLarge > 0 ? { key, tooLarge } : { key, text: Buffer.concat(parts, size).toString('utf8') }
    parts = []
    size = 0
    tooLarge = 0
    return m
  }
  const fail = (what: string): never => {
    throw new JsonStructureError(`${what} at byte ${offset}`)
  }

  for await (const chunk of chunks) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    let valueFrom = where === 'value' ? 0 : -1
    let keyFrom = where === 'key' ? 0 : -1
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i]!
      if (inString) {
        if (escaped) escaped = false
        else if (b === BACKSLASH) escaped = true
        else if (b === QUOTE) {
          inString = false
          if (where === 'key') {
            keyParts.push(Buffer.from(buf.subarray(keyFrom, i)))
            key = JSON.parse(`"${Buffer.concat(keyParts).toString('utf8')}"`) as string
            keyParts = []
            where = 'colon'
          } else if (depth === 0) {
            take(buf, valueFrom, i + 1)
            valueFrom = -1
            where = 'next'
            yield member()
          }
        }
        continue
      }
      if (where === 'value') {
        if (b === QUOTE) inString = true
        else if (b === OPEN_OBJ || b === OPEN_ARR) depth++
        else if (b === CLOSE_OBJ || b === CLOSE_ARR) {
          if (depth === 0) {
            // the end of a bare value (number, true…) and of the whole object
            take(buf, valueFrom, i)
            yield member()
            where = 'end'
            valueFrom = -1
            continue
          }
          depth--
          if (depth === 0) {
            take(buf, valueFrom, i + 1)
            valueFrom = -1
            where = 'next'
            yield member()
          }
        } else if (b === COMMA && depth === 0) {
          take(buf, valueFrom, i)
          valueFrom = -1
          where = 'key?'
          yield member()
        }
        continue
      }
      if (isSpace(b)) continue
      switch (where) {
        case 'start':
          if (b !== OPEN_OBJ) fail('not a JSON object')
          where = 'key?'
          break
        case 'key?':
          if (b === CLOSE_OBJ) where = 'end'
          else if (b === QUOTE) {
            where = 'key'
            inString = true
            keyFrom = i + 1
          } else if (b !== COMMA) fail('expected a member name')
          break
        case 'colon':
          if (b !== COLON) fail('expected ":"')
          where = 'value?'
          break
        case 'value?':
          where = 'value'
          valueFrom = i
          depth = 0
          if (b === QUOTE) inString = true
          else if (b === OPEN_OBJ || b === OPEN_ARR) depth = 1
          break
        case 'next':
          if (b === COMMA) where = 'key?'
          else if (b === CLOSE_OBJ) where = 'end'
          else fail('expected "," or "}"')
          break
        case 'end':
          fail('data after the end of the object')
      }
    }
    if (where === 'key' && keyFrom >= 0) keyParts.push(Buffer.from(buf.subarray(keyFrom)))
    if (where === 'value' && valueFrom >= 0) take(buf, valueFrom, buf.length)
    offset += buf.length
  }
  if (where !== 'end') fail('the document ends before its object does')
}
