import { describe, expect, it } from 'vitest'
import { HAS_NATS_SERVER, noteNatsMissing } from '../helpers/nats.js'
import { getJson, HAS_SMALL_IMAGE, natsWithDaemons, osv, noteCorpusMissing, SMALL_ARCHIVE, SMALL_TARGET, startDaemonProcess } from './harness.js'

noteNatsMissing()
noteCorpusMissing()

const ANNOUNCES = 'this replica now announces FindingsChanged for feed deltas'

/**
 * One event per change: two replicas apply every feed delta, one of them (the lease holder)
 * announces. A live subscriber gets each image's FindingsChanged once; when the announcer dies,
 * the other takes over and announces what came after.
 */
describe.skipIf(!HAS_NATS_SERVER || !HAS_SMALL_IMAGE)('one FindingsChanged per image and delta', () => {
  const ctx = natsWithDaemons()
  const { daemons } = ctx

  it('two replicas, one delta: each affected image\'s event arrives once; after the announcer\'s kill -9 the other announces', async () => {
    const { nats, client } = ctx
    const start = (id: string) => startDaemonProcess({ natsUrl: nats.url, args: ['--replica-id', id, '--concurrency', '2'] })
    const [a, b] = await Promise.all([start('one-a'), start('one-b')])
    daemons.push(a!, b!)
    for (const [i, target] of [SMALL_TARGET, SMALL_ARCHIVE].entries()) await client.publish('vigil.jobs.scan', { id: `one-${i}`, target })
    await client.waitForResults((rs) => ['one-0', 'one-1'].every((id) => rs.some((r) => r.jobId === id)), 60_000)
    const digests = [...new Set(client.scanResults().map((r) => r.digest!))].sort()
    expect(digests).toHaveLength(2)
    // Both replicas index both images (each follows VIGIL_INVENTORY) before the delta.
    for (const d of [a!, b!]) {
      const deadline = Date.now() + 30_000
      while (!/vigil_index_images 2\b/.test(String((await getJson(`${d.httpUrl}/metrics`)).body)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    }
    const leader = await Promise.race([a!, b!].map((d) => d.waitFor((l) => l.msg === ANNOUNCES, 30_000).then(() => d)))
    const follower = leader === a ? b! : a!

    await client.publish('vigil.feed.delta', { records: [osv('CVE-2099-2001', 'glibc', '2.36-9+deb12u99')] })
    for (const d of [a!, b!]) await d.waitFor((l) => l.msg === 'feed delta applied' && l.imagesChanged === 2, 60_000)
    const firstEvents = () => client.results.filter((r) => r.subject.startsWith('vigil.results.findings.') && (r.body.causes as string[]).includes('CVE-2099-2001'))
    const deadline = Date.now() + 15_000
    while (firstEvents().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    // Let a second copy, if any replica were to send one, arrive before counting.
    await new Promise((r) => setTimeout(r, 2_000))
    const first = firstEvents()
    expect(first.map((r) => r.digest).sort()).toEqual(digests)

    // The announcer dies; the next delta is announced by the other replica, once per image.
    await leader.kill9()
    await client.publish('vigil.feed.delta', { withdrawn: ['CVE-2099-2001'] })
    await follower.waitFor((l) => l.msg === 'feed delta applied' && l.withdrawn === 1, 60_000)
    await follower.waitFor((l) => l.msg === ANNOUNCES, 30_000)
    const second = () => client.results.filter((r) => r.subject.startsWith('vigil.results.findings.') && (r.body.removed as { id: string }[]).some((f) => f.id === 'CVE-2099-2001'))
    const deadline2 = Date.now() + 30_000
    while (second().length < 2 && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 100))
    await new Promise((r) => setTimeout(r, 2_000))
    expect(second().map((r) => r.digest).sort()).toEqual(digests)
    expect(await follower.stop()).toBe(0)
  }, 180_000)
})
