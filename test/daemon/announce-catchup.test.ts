import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { jetstream } from '@nats-io/jetstream'
import { ANALYZERS, analyzerSetVersion } from '../../src/analyzers/index.js'
import { publishInventory } from '../../src/daemon/inventory-log.js'
import { asDigest, type Inventory } from '../../src/types.js'
import { HAS_NATS_SERVER, noteNatsMissing } from '../helpers/nats.js'
import { getJson, natsWithDaemons, osvAdvisory, startDaemonProcess, tempDir } from './harness.js'

noteNatsMissing()

const sha = (s: string) => asDigest(`sha256:${createHash('sha256').update(s).digest('hex')}`)
const IMAGE = sha('announce-test-image')
const inventory: Inventory = {
  v: 1,
  image: { reference: 'example.test/app:1', digest: IMAGE, platform: 'linux/amd64', layers: [sha('announce-test-layer')] },
  packages: [{ ecosystem: 'npm', name: 'left-pad', version: '1.3.0', purl: 'pkg:npm/left-pad@1.3.0', path: 'app/node_modules/left-pad/package.json', kind: 'lang' }],
  analyzerSet: analyzerSetVersion(ANALYZERS),
  createdAt: '2026-12-01T00:00:00Z',
}
const advisory = osvAdvisory('CVE-2099-4000', 'npm', 'left-pad', '1.3.1')

/**
 * A delta published while the only replica was down is applied when it catches up at start, and
 * its FindingsChanged goes out then, once (the announcer announces kept deltas past the cluster's
 * announced mark); a replica that replays the same delta later stays quiet.
 */
describe.skipIf(!HAS_NATS_SERVER)('findings changes applied while catching up', () => {
  const ctx = natsWithDaemons()

  it('are announced once, by the first replica that applies them', async () => {
    const { nats, client, daemons } = ctx
    const dataDir = await tempDir('vigil-announce-')
    const start = async (replica: string, dir?: string) => {
      const d = await startDaemonProcess({ natsUrl: nats.url, ...(dir ? { dataDir: dir } : {}), args: ['--replica-id', replica] })
      daemons.push(d)
      return d
    }
    // The image is indexed from VIGIL_INVENTORY (as if another replica had scanned it).
    const first = await start('solo', dataDir)
    await publishInventory(jetstream(client.nc), 1024 * 1024, inventory)
    const deadline = Date.now() + 30_000
    while (!/^vigil_index_images 1$/m.test(String((await getJson(`${first.httpUrl}/metrics`)).body))) {
      if (Date.now() > deadline) throw new Error('the inventory was not indexed')
      await sleep(100)
    }
    expect(await first.stop()).toBe(0)

    // Published while no replica runs: the restarted one applies it before it is ready.
    await client.publish('vigil.feed.delta', { records: [advisory] })
    const again = await start('solo', dataDir)
    const hex = IMAGE.slice('sha256:'.length)
    const announced = () => client.results.filter((r) => r.subject === `vigil.results.findings.${hex}`)
    await client.waitForResults(() => announced().length > 0, 20_000)
    expect(again.logs.find((l) => l.msg === 'feed delta applied')).toMatchObject({ imagesChanged: 1 })
    expect(announced()).toHaveLength(1)
    expect(announced()[0]!.body).toMatchObject({ digest: IMAGE, causes: ['CVE-2099-4000'], origin: { feedSeq: 1 } })
    expect((announced()[0]!.body.added as { id: string }[]).map((f) => f.id)).toEqual(['CVE-2099-4000'])

    // A fresh replica replays the inventory and the delta: same change, already announced.
    const other = await start('late')
    await other.waitFor((l) => l.msg === 'feed delta applied')
    await again.stop()
    await other.stop()
    // It applied the delta too (before or after indexing the image: either order is fine here).
    expect(other.logs.find((l) => l.msg === 'feed delta applied')).toMatchObject({ seq: 1 })
    expect(announced()).toHaveLength(1)
  }, 120_000)
})
