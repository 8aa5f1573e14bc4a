import { describe, expect, it } from 'vitest'
import { LOCKFILE_ANALYZERS } from '../../src/analyzers/lang/lockfiles.js'
import { goModAnalyzer } from '../../src/analyzers/go-mod.js'
import { mavenPomAnalyzer } from '../../src/analyzers/maven-pom.js'
import { stripJsonc } from '../../src/analyzers/bun-lock.js'
import { swiftName } from '../../src/analyzers/swift-resolved.js'
import type { Analyzer } from '../../src/analyzers/types.js'
import { VigilError } from '../../src/errors.js'
import type { Package } from '../../src/types.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

async function parse(a: Analyzer, text: string, path = 'x', readRelative?: (rel: string) => Uint8Array | undefined): Promise<Package[]> {
  const bytes = enc(text)
  return (await a.parse(bytes, { path, size: bytes.length, mode: 0o644, readRelative })).packages ?? []
}

/** Malformed inputs every reader gets: each must give packages or a VigilError, never another throw. */
const GARBAGE = ['', '\0\0\0\xff', '{', '[1,2', '<project><dependencies>', 'packages:\n  - [', '"a": {:hex, :a, "1.0"', '{"packages": 5}', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;&a;</x>']

describe('lockfile readers on hostile input', () => {
  for (const a of LOCKFILE_ANALYZERS) {
    it(`${a.name}: garbage gives packages or a VigilError`, async () => {
      for (const g of GARBAGE) {
        const out = await parse(a, g).then((p) => p, (e: unknown) => e)
        if (!Array.isArray(out)) expect(VigilError.is(out), `${a.name} on ${JSON.stringify(g)}: ${String(out)}`).toBe(true)
      }
    })
  }

  it('a property cycle in a pom does not loop and leaves the version unresolved', async () => {
    const pom = `<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version>
      <properties><x>\${y}</x><y>\${x}</y></properties>
      <dependencies><dependency><groupId>d</groupId><artifactId>e</artifactId><version>\${x}</version></dependency></dependencies></project>`
    expect((await parse(mavenPomAnalyzer, pom, 'pom.xml')).map((p) => p.name)).toEqual(['g:a'])
  })

  it('pom parents that point at each other stop at the depth limit', async () => {
    const pom = (a: string, parent: string, rel: string): string =>
      `<project><parent><groupId>g</groupId><artifactId>${parent}</artifactId><version>1</version><relativePath>${rel}</relativePath></parent><artifactId>${a}</artifactId><dependencies><dependency><groupId>d</groupId><artifactId>${a}-dep</artifactId><version>2</version></dependency></dependencies></project>`
    const files: Record<string, string> = { 'p/pom.xml': pom('p', 'root', '../pom.xml') }
    const root = pom('root', 'p', 'p/pom.xml')
    files['pom.xml'] = root
    const got = await parse(mavenPomAnalyzer, root, 'pom.xml', (rel) => (files[rel] !== undefined ? enc(files[rel]) : undefined))
    expect(got.map((p) => `${p.name}@${p.version}`).sort()).toEqual(['d:p-dep@2', 'd:root-dep@2', 'g:root@1'])
  })

  it('go.mod: local replacements are dropped and an unclosed block is corrupt', async () => {
    const mod = 'module m\n\ngo 1.20\n\nrequire (\n\ta.io/x v1.0.0\n\tb.io/y v1.2.0\n)\n\nreplace a.io/x => ../x\nreplace b.io/y v1.2.0 => c.io/y v1.3.0\n'
    expect((await parse(goModAnalyzer, mod, 'go.mod')).map((p) => `${p.name}@${p.version}`)).toEqual(['c.io/y@v1.3.0'])
    await expect(parse(goModAnalyzer, 'module m\nrequire (\n a.io/x v1.0.0\n', 'go.mod')).rejects.toSatisfy((e: unknown) => VigilError.is(e))
  })

  it('bun JSONC: strings keep their commas and slashes, trailing commas go', () => {
    expect(JSON.parse(stripJsonc('{"a": "x,}/*y*/", // c\n "b": [1,2,],}'))).toEqual({ a: 'x,}/*y*/', b: [1, 2] })
  })

  it('each reader matches its file name in any folder, and not a look-alike', () => {
    const names: Record<string, string> = {
      'go-mod': 'go.mod', 'pip-requirements': 'requirements.txt', 'pipenv-lock': 'Pipfile.lock', 'poetry-lock': 'poetry.lock', 'uv-lock': 'uv.lock',
      pylock: 'pylock.toml', 'maven-pom': 'pom.xml', 'gradle-lock': 'gradle.lockfile', 'sbt-lock': 'build.sbt.lock', 'conan-lock': 'conan.lock',
      'nuget-lock': 'packages.lock.json', 'nuget-props': 'Directory.Packages.props', 'swift-resolved': 'Package.resolved', 'cocoapods-lock': 'Podfile.lock',
      'pubspec-lock': 'pubspec.lock', 'mix-lock': 'mix.lock', 'bun-lock': 'bun.lock', 'composer-vendor': 'installed.json',
    }
    const file = (path: string) => ({ path, size: 1, mode: 0o644 })
    for (const [name, base] of Object.entries(names)) {
      const a = LOCKFILE_ANALYZERS.find((x) => x.name === name)!
      expect(a.match(file(base)) && a.match(file(`src/app/${base}`)), name).toBe(true)
      expect(a.match(file(`src/x${base}`)) || a.match(file(`${base}.bak`)), name).toBe(false)
    }
    expect(LOCKFILE_ANALYZERS.find((x) => x.name === 'pylock')!.match(file('pylock.dev.toml'))).toBe(true)
    expect(LOCKFILE_ANALYZERS.find((x) => x.name === 'composer-vendor')!.match(file('vendor/composer/installed.json'))).toBe(false)
  })

  it('swift names drop scheme, user and .git', () => {
    expect(swiftName('https://github.com/apple/swift-nio.git')).toBe('github.com/apple/swift-nio')
    expect(swiftName('git@github.com:apple/swift-nio.git')).toBe('github.com/apple/swift-nio')
  })
})
