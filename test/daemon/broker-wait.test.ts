import { JetStreamApiError } from '@nats-io/jetstream'
import { errors } from '@nats-io/transport-node'
import { describe, expect, it } from 'vitest'
import { isTransientBrokerError, untilAvailable } from '../../src/daemon/broker.js'
import { createLogger } from '../../src/daemon/logger.js'

const apiError = (code: number, description: string, status = 500) => new JetStreamApiError({ err_code: code, code: status, description })

describe('waiting out a NATS cluster that cannot answer yet', () => {
  it('tells transient JetStream faults (elections, servers down) from permanent ones', () => {
    for (const err of [
      new errors.TimeoutError(),
      apiError(10008, 'JetStream system temporarily unavailable', 503),
      apiError(10023, 'insufficient resources', 503),
      apiError(10005, 'no suitable peers for placement'),
      apiError(10118, 'stream is offline'),
      new Error('timeout'),
    ]) expect(isTransientBrokerError(err), (err as Error).message).toBe(true)
    for (const err of [
      apiError(10074, 'replicas > 1 not supported in non-clustered mode', 400),
      apiError(10059, 'stream not found', 404),
      new Error('permissions violation'),
    ]) expect(isTransientBrokerError(err), (err as Error).message).toBe(false)
  })

  it('retries with a growing delay, says what it waits for, and throws a permanent error at once', async () => {
    const lines: Record<string, unknown>[] = []
    const log = createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } as unknown as NodeJS.WritableStream)
    let calls = 0
    const value = await untilAvailable('the test stream', async () => {
      if (++calls < 4) throw new errors.TimeoutError()
      return 'ok'
    }, log, { firstDelayMs: 5, maxDelayMs: 20 })
    expect(value).toBe('ok')
    const waits = lines.filter((l) => l.waitingFor === 'the test stream' && l.retryInMs !== undefined)
    expect(waits.map((l) => l.retryInMs)).toEqual([5, 10, 20])
    expect(String(waits[0]!.msg)).toMatch(/^waiting for NATS JetStream: the test stream/)
    expect(lines.some((l) => String(l.msg) === 'NATS answered: the test stream')).toBe(true)

    let permanent = 0
    await expect(untilAvailable('x', async () => {
      permanent++
      throw apiError(10074, 'replicas > 1 not supported in non-clustered mode', 400)
    }, log, { firstDelayMs: 5 })).rejects.toThrow(/non-clustered/)
    expect(permanent).toBe(1)
  })
})
