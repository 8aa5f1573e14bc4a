import { PassThrough, Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'

async function vigil(argv: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (d: Buffer) => (out += d.toString()))
  stderr.on('data', (d: Buffer) => (err += d.toString()))
  const code = await main(argv, { stdout, stderr, stdin: Readable.from([stdin]), env: {} })
  return { code, out, err }
}

describe('vigil version compare', () => {
  it('prints -1, 0 or 1 for two arguments', async () => {
    expect(await vigil(['version', 'compare', 'dpkg', '1:1.0-1', '2.0-1'])).toMatchObject({ code: 0, out: '1\n' })
    expect(await vigil(['version', 'compare', 'rpm', '1.0~rc1-1', '1.0-1'])).toMatchObject({ code: 0, out: '-1\n' })
    expect(await vigil(['version', 'compare', 'maven', '1.0', '1.0.0'])).toMatchObject({ code: 0, out: '0\n' })
  })

  it('reads A<TAB>B lines in batch mode, one output line per input line, `error` for bad lines', async () => {
    const input = '1.0\t1.1\nfrench toast\t1.0\nno tab here\n2.0.post1\t2.0\n\n'
    const r = await vigil(['version', 'compare', 'pep440'], input)
    expect(r.code).toBe(0)
    expect(r.out).toBe('-1\nerror\nerror\n1\nerror\n')
  })

  it('exits 2 with a message for an unknown scheme, bad usage or an invalid version', async () => {
    const unknown = await vigil(['version', 'compare', 'nope', '1', '2'])
    expect(unknown.code).toBe(2)
    expect(unknown.err).toContain('ERR_SCHEME_UNKNOWN')
    expect((await vigil(['version', 'compare'])).code).toBe(2)
    expect((await vigil(['version', 'compare', 'dpkg', '1.0'])).code).toBe(2)
    expect((await vigil(['version', 'sort', 'dpkg'])).code).toBe(2)
    const bad = await vigil(['version', 'compare', 'dpkg', '1:', '1.0'])
    expect(bad.code).toBe(2)
    expect(bad.err).toContain('ERR_VERSION_INVALID')
  })

  it('explains itself with --help, naming every scheme', async () => {
    const r = await vigil(['version', '--help'])
    expect(r.code).toBe(0)
    for (const s of ['dpkg', 'apk', 'rpm', 'semver', 'pep440', 'go', 'maven', 'rubygems', 'nuget', 'composer', 'generic']) expect(r.out).toContain(s)
  })
})
