import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { tempDir } from '../layers/fixtures.js'
import { CORPUS } from './corpus.js'

const DISTROLESS = join(CORPUS, 'distroless-style')
const HAVE = existsSync(join(DISTROLESS, 'oci', 'index.json'))
if (!HAVE) console.warn(`[skip] vigil sbom: distroless-style is not built in ${CORPUS}`)

async function vigil(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const out: Buffer[] = []
  const err: Buffer[] = []
  stdout.on('data', (c: Buffer) => out.push(c))
  stderr.on('data', (c: Buffer) => err.push(c))
  const code = await main(args, { stdout, stderr, stdin: new PassThrough(), env })
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }
}

describe.skipIf(!HAVE)('vigil sbom', () => {
  let dir: string
  let cleanup: () => Promise<void>
  const oci = `oci:${join(DISTROLESS, 'oci')}`

  beforeAll(async () => {
    ensureBuilt()
    ;({ dir, cleanup } = await tempDir('vigil-sbom-'))
  })
  afterAll(() => cleanup?.())

  it('writes the inventory as JSON, options after the target', async () => {
    const r = await vigil(['sbom', oci, '--format', 'json', '--data', join(dir, 'data')])
    expect(r.code).toBe(0)
    const inv = JSON.parse(r.stdout) as { v: number; os: { ecosystem: string }; packages: Array<{ name: string; purl: string; layer: string }> ; image: { layers: string[] } }
    expect(inv.v).toBe(1)
    expect(inv.os.ecosystem).toBe('Debian:12')
    expect(inv.packages.map((p) => p.name).sort()).toEqual(['base-files', 'gcc-12-base', 'libc6', 'libgcc-s1', 'zlib1g'])
    expect(inv.packages.every((p) => p.purl.startsWith('pkg:deb/debian/') && p.layer === inv.image.layers[0])).toBe(true)
    // Not a terminal: no progress bar on stderr, only plain progress lines (test/cli/habits.test.ts).
    expect(r.stderr).not.toMatch(/[\r\x1b]/)
    expect(r.stderr.trimEnd().split('\n').every((l) => l.startsWith('vigil sbom: '))).toBe(true)
  })

  it('writes CycloneDX to a file and SPDX to stdout, options before the target', async () => {
    const file = join(dir, 'bom.json')
    expect((await vigil(['sbom', '-o', file, '--data', join(dir, 'data'), oci])).code).toBe(0)
    const bom = JSON.parse(await readFile(file, 'utf8')) as { bomFormat: string; components: Array<{ purl?: string }> }
    expect(bom.bomFormat).toBe('CycloneDX')
    expect(bom.components.filter((c) => c.purl?.startsWith('pkg:deb/'))).toHaveLength(5)
    const spdx = await vigil(['sbom', '--format=spdx-json', '--data', join(dir, 'data'), oci])
    expect(spdx.code).toBe(0)
    expect((JSON.parse(spdx.stdout) as { spdxVersion: string }).spdxVersion).toBe('SPDX-2.3')
  })

  it('exits 2 on usage and input errors, with the error code on stderr', async () => {
    const badFormat = await vigil(['sbom', oci, '--format', 'xml'])
    expect([badFormat.code, badFormat.stderr]).toEqual([2, expect.stringContaining('ERR_USAGE')])
    const missing = await vigil(['sbom', `oci:${join(dir, 'nothing-here')}`, '--data', join(dir, 'data')])
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining('ERR_TARGET_NOT_FOUND')])
    expect((await vigil(['sbom'])).code).toBe(2)
    expect((await vigil(['sbom', oci, '--username', 'u'], {})).stderr).toContain('ERR_USAGE')
  })
})

const NODE_APP = join(CORPUS, 'debian-node-app', 'oci')
describe.skipIf(!existsSync(join(NODE_APP, 'index.json')))('vigil sbom --include-os-owned', () => {
  let dir: string
  let cleanup: () => Promise<void>
  beforeAll(async () => {
    ensureBuilt()
    ;({ dir, cleanup } = await tempDir('vigil-sbom-owned-'))
  })
  afterAll(() => cleanup?.())

  type Inv = { packages: Array<{ kind: string; name: string; path: string; osOwned?: boolean }> }
  it('leaves out the npm modules that Debian packages own, and keeps them on request', async () => {
    const data = join(dir, 'data')
    const plain = await vigil(['sbom', `oci:${NODE_APP}`, '--format', 'json', '--data', data])
    const owned = await vigil(['sbom', '--include-os-owned', `oci:${NODE_APP}`, '--format', 'json', '--data', data])
    expect([plain.code, owned.code]).toEqual([0, 0])
    const a = (JSON.parse(plain.stdout) as Inv).packages.filter((p) => p.kind === 'lang')
    const b = (JSON.parse(owned.stdout) as Inv).packages.filter((p) => p.kind === 'lang')
    // /app/node_modules (54) plus /app/package.json: none of it is dpkg's.
    expect(a.every((p) => !p.osOwned && p.path.startsWith('app/'))).toBe(true)
    const extra = b.filter((p) => p.osOwned)
    expect(b.length).toBe(a.length + extra.length)
    // node-acorn, node-busboy, node-undici, … install their modules under /usr/share/nodejs.
    expect(extra.length).toBeGreaterThanOrEqual(5)
    expect(extra.every((p) => p.path.startsWith('usr/share/nodejs/'))).toBe(true)
  })
})
