import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CliIo } from '../../src/cli/command.js'
import { main } from '../../src/cli/main.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { CORPUS, hasImage, noteCorpusMissing } from '../image/corpus.js'
import { ensureBuilt } from '../layers/ensure-built.js'

/**
 * Scan once, stay current, at the terminal: `vigil scan` keeps what it scanned in the data dir,
 * and a later `vigil db import` re-assesses it — the image is never read again — so that
 * `vigil query` answers for it.
 */
noteSharedMissing('vigil scan → db import → query')
noteCorpusMissing(['debian-node-app'])
const READY = HAS_SHARED && hasImage('debian-node-app')

class Capture extends Writable {
  text = ''
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString()
    done()
  }
}

async function vigil(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture()
  const stderr = new Capture()
  const io: CliIo = { stdout, stderr, stdin: Readable.from([]), env: {} }
  const code = await main(args, io)
  return { code, stdout: stdout.text, stderr: stderr.text }
}

describe.skipIf(!READY)('vigil scan, then db import, then query', () => {
  let data: string
  const image = `oci:${join(CORPUS, 'debian-node-app', 'oci')}`
  beforeAll(() => {
    ensureBuilt()
    data = mkdtempSync(join(tmpdir(), 'vigil-cli-flow-'))
  })
  afterAll(() => rmSync(data, { recursive: true, force: true }))

  it('an image scanned before the advisory existed is found affected after the import', async () => {
    const first = await vigil(['scan', image, '--format', 'json', '--data', data, '-q', '--allow-no-data'])
    expect(first.code).toBe(0)
    const report = JSON.parse(first.stdout) as { image: { digest: string }; findings: unknown[] }
    expect(report.findings).toEqual([])

    const before = await vigil(['query', 'vuln', 'NSWG-ECO-516', '--format', 'json', '--data', data])
    expect(before.code).toBe(0)
    expect(JSON.parse(before.stdout)).toEqual([])

    // lodash 4.17.15 sits in /app/node_modules; the security-wg advisory 516 covers <4.17.19.
    const imported = await vigil(['db', 'import', sharedPath('advisories', 'npm-nodejs-security-wg', 'vuln', 'npm'), '--data', data])
    expect(imported.stdout).toMatch(/findings changed in 1 image\(s\)/)

    const after = await vigil(['query', 'vuln', 'NSWG-ECO-516', '--format', 'json', '--data', data])
    const hits = JSON.parse(after.stdout) as Array<{ digest: string; name: string; version: string }>
    expect(hits).toEqual([expect.objectContaining({ digest: report.image.digest, name: 'lodash', version: '4.17.15' })])

    const pkg = await vigil(['query', 'package', 'pkg:npm/lodash', '--format', 'json', '--data', data])
    expect(JSON.parse(pkg.stdout)).toEqual([expect.objectContaining({ digest: report.image.digest, version: '4.17.15' })])
  })
})
