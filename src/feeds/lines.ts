/** One line of a text stream, or a marker for a line that was longer than the limit (dropped unread). */
export type Line = { text: string; n: number } | { tooLong: number; n: number }

/**
 * Splits a byte stream into lines with bounded memory: a line past `maxLine` bytes is dropped
 * as it streams (readline would buffer it whole — a 100 MB NDJSON record must not).
 */
export async function* splitLines(chunks: AsyncIterable<Uint8Array>, maxLine: number): AsyncGenerator<Line> {
  let parts: Buffer[] = []
  let size = 0
  let dropped = 0
  let n = 0
  const flush = (): Line => {
    n++
    const line: Line = dropped > 0 ? { tooLong: dropped + size, n } : { text: Buffer.concat(parts).toString('utf8'), n }
    parts = []
    size = 0
    dropped = 0
    return line
  }
  for await (const chunk of chunks) {
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    for (;;) {
      const nl = buf.indexOf(10)
      const piece = nl < 0 ? buf : buf.subarray(0, nl)
      if (dropped > 0 || size + piece.length > maxLine) {
        dropped += size + piece.length
        parts = []
        size = 0
      } else if (piece.length > 0) {
        parts.push(Buffer.from(piece))
        size += piece.length
      }
      if (nl < 0) break
      yield flush()
      buf = buf.subarray(nl + 1)
    }
  }
  if (size > 0 || dropped > 0) yield flush()
}

/**
 * At most the first `max` bytes of a byte stream, and the rest of it still unread: enough to
 * recognise a format without holding a line that may never end.
 */
export async function readHeadOf(chunks: AsyncIterable<Uint8Array>, max: number): Promise<{ head: Buffer; rest: AsyncIterable<Uint8Array> }> {
  const it = chunks[Symbol.asyncIterator]()
  const parts: Buffer[] = []
  let size = 0
  let done = false
  while (size < max) {
    const r = await it.next()
    if (r.done) {
      done = true
      break
    }
    const b = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength)
    parts.push(b)
    size += b.length
  }
  const head = Buffer.concat(parts)
  async function* rest(): AsyncGenerator<Uint8Array> {
    yield head
    if (done) return
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value
  }
  return { head: head.subarray(0, max), rest: rest() }
}
