import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { open, type Database, type RootDatabase } from 'lmdb'
import type { ScanJob } from '../../daemon/messages.js'
import { VigilError } from '../../errors.js'
import { storeWrite, type Store } from '../../store/env.js'
import { SCAN_TTL_MS, type ScanState } from './scans.js'

/**
 * Scan requests accepted while the broker was unreachable, kept in local LMDB until they can be
 * sent: Harbor fails a scan on any answer to POST /scan but 202, so a NATS outage must not turn
 * into failed scans, and a 202 must survive a restart of this process. Inside `vigil serve` the
 * entries live in the daemon's store (named database `harbor-outbox`); `vigil harbor` keeps a
 * small environment of its own under its data dir. The job's registry authorization is sealed
 * with the daemons' key before it gets here, as it is on the wire; nothing here is in clear text.
 */
export const OUTBOX_DB = 'harbor-outbox'
/** Scans waiting at once; one more is refused with ERR_BROKER (the disk is not a queue without end). */
export const OUTBOX_LIMIT = 10_000

export interface OutboxEntry {
  v: 1
  /** The scan request's state as the normal path writes it to the KV bucket. */
  state: ScanState
  /** The job to publish; absent when the request was answered from the index (no job needed). */
  job?: ScanJob
}

export class OutboxFull extends Error {}

export class ScanOutbox {
  private constructor(private readonly db: Database<OutboxEntry, string>, private readonly limit: number, private readonly closeEnv?: () => Promise<void>) {}

  /** The outbox inside the daemon's store. */
  static inStore(store: Store, limit = OUTBOX_LIMIT): ScanOutbox {
    return new ScanOutbox(store.root.openDB({ name: OUTBOX_DB }) as Database<OutboxEntry, string>, limit)
  }

  /** The standalone adapter's own environment, `<dataDir>/harbor-outbox`. */
  static inDir(dataDir: string, limit = OUTBOX_LIMIT): ScanOutbox {
    const path = join(dataDir, OUTBOX_DB)
    let root: RootDatabase
    try {
      mkdirSync(path, { recursive: true })
      // A few thousand small entries at most: 1 GiB of map is address space, not disk.
      root = open({ path, maxDbs: 1, mapSize: 1024 ** 3, compression: false })
    } catch (err) {
      throw new VigilError('ERR_STORE', `cannot open the Harbor outbox at ${path}: ${(err as Error).message}`, { cause: err })
    }
    return new ScanOutbox(root.openDB({ name: OUTBOX_DB }) as Database<OutboxEntry, string>, limit, () => root.close())
  }

  get size(): number {
    return (this.db.getStats() as { entryCount: number }).entryCount
  }

  has(id: string): boolean {
    return this.db.doesExist(id)
  }

  /** Stores the entry durably (resolves after LMDB's commit); OutboxFull at the limit, ERR_STORE on a disk fault. */
  async add(entry: OutboxEntry): Promise<void> {
    if (this.size >= this.limit) throw new OutboxFull(`the local outbox is full (${this.limit} scans wait for the broker)`)
    await storeWrite(this.db.put(entry.state.id, entry))
  }

  /** Every waiting entry, oldest request first. */
  entries(): OutboxEntry[] {
    return [...this.db.getRange()].map(({ value }) => value).sort((a, b) => a.state.createdAt.localeCompare(b.state.createdAt))
  }

  async remove(id: string): Promise<void> {
    await storeWrite(this.db.remove(id))
  }

  /** True when Harbor has given up on the entry's scan as the KV bucket would have (SCAN_TTL_MS). */
  static expired(entry: OutboxEntry, now = Date.now()): boolean {
    return now - Date.parse(entry.state.createdAt) > SCAN_TTL_MS
  }

  async close(): Promise<void> {
    await this.closeEnv?.()
  }
}
