/** Reading streams and consumers the way the poison tests assert on them: counts and DLQ headers. */
import { DeliverPolicy, jetstreamManager } from '@nats-io/jetstream'
import type { JobClient } from './harness.js'

export async function streamCount(client: JobClient, stream: string): Promise<number> {
  const jsm = await jetstreamManager(client.nc)
  return (await jsm.streams.info(stream)).state.messages
}

export async function consumerState(client: JobClient, stream: string, name: string): Promise<{ ackPending: number; redelivered: number; pending: number }> {
  const jsm = await jetstreamManager(client.nc)
  const info = await jsm.consumers.info(stream, name)
  return { ackPending: info.num_ack_pending, redelivered: info.num_redelivered, pending: info.num_pending }
}

export interface DeadLetter {
  subject: string
  code: string
  deliveries: number
  originalSeq: number
  originalSubject: string
}

/** Every copy VIGIL_DLQ holds, with the headers the daemon wrote. */
export async function deadLetters(client: JobClient): Promise<DeadLetter[]> {
  if ((await streamCount(client, 'VIGIL_DLQ')) === 0) return []
  const consumer = await client.js.consumers.get('VIGIL_DLQ', { deliver_policy: DeliverPolicy.All })
  const out: DeadLetter[] = []
  const messages = await consumer.fetch({ max_messages: 10_000, expires: 1_000 })
  for await (const m of messages) {
    const h = m.headers
    out.push({
      subject: m.subject,
      code: h?.get('Vigil-Error-Code') ?? '',
      deliveries: Number(h?.get('Vigil-Deliveries')),
      originalSeq: Number(h?.get('Vigil-Original-Seq')),
      originalSubject: h?.get('Vigil-Original-Subject') ?? '',
    })
    if (m.info.pending === 0) break
  }
  return out
}
