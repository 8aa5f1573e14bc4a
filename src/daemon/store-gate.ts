import { statfsSync } from 'node:fs'
import { VigilError, type ErrorRecord } from '../errors.js'
import type { Logger } from './logger.js'

/**
 * After a store write failed for want of room, the daemon stops writing to LMDB until the disk
 * has room again. A failed commit is not always harmless in lmdb-js: with the disk still full,
 * repeated failing commits have ended the process in a native abort ("free(): invalid size",
 * seen in test/daemon/disk-full.test.ts; the lmdb-js maintainer has seen segfaults only when out
 * of disk space, kriszyp/lmdb-js#40). So while the gate is shut, work that would write fails at
 * once with ERR_STORE (retryable) without touching LMDB; reads go on.
 */
const MIB = 1024 ** 2
/** Room needed to write again: more than an import batch or a large image's index commit writes. */
export const RESUME_FREE_BYTES = 32 * MIB

export class StoreGate {
  private shut = false

  constructor(private readonly path: string, private readonly log: Logger, private readonly resumeFreeBytes = RESUME_FREE_BYTES) {}

  /** Every failure of work that writes passes here; a store fault shuts the gate. */
  noteFailure(error: ErrorRecord): void {
    if (error.code !== 'ERR_STORE' || this.shut) return
    this.shut = true
    this.log.error({ code: error.code, error: error.message, freeMiB: this.freeMiB() }, `store write failed: no store writes until the disk under ${this.path} has ${this.resumeFreeBytes / MIB} MiB free`)
  }

  /** Throws ERR_STORE while the gate is shut and the disk is still short of room. */
  check(): void {
    if (!this.shut) return
    const free = this.freeBytes()
    if (free >= this.resumeFreeBytes) {
      this.shut = false
      this.log.info({ freeMiB: this.freeMiB() }, 'the disk under the store has room again: store writes resume')
      return
    }
    throw new VigilError('ERR_STORE', `the disk under the store is full (${(free / MIB).toFixed(1)} MiB free); store writes resume at ${this.resumeFreeBytes / MIB} MiB`, { retryable: true })
  }

  private freeBytes(): number {
    try {
      const s = statfsSync(this.path)
      return s.bavail * s.bsize
    } catch {
      return 0
    }
  }

  private freeMiB(): number {
    return Math.round(this.freeBytes() / MIB)
  }
}
