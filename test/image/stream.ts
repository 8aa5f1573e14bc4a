import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createDigestVerifier, openBlobStream } from '../../src/image/digest.js'
import type { LayerRef, ResolvedImage } from '../../src/image/types.js'

/** Streams one layer through openBlobStream and the digest verifier; returns the byte count. */
export async function streamLayer(layer: LayerRef): Promise<number> {
  let bytes = 0
  const sink = new Writable({ write: (c: Buffer, _e, done) => ((bytes += c.length), done()) })
  await pipeline(openBlobStream(layer.locator), createDigestVerifier(layer.digest, layer.size === undefined ? {} : { size: layer.size }), sink)
  return bytes
}

export async function streamAllLayers(image: ResolvedImage): Promise<number> {
  let bytes = 0
  for (const layer of image.layers) bytes += await streamLayer(layer)
  return bytes
}
