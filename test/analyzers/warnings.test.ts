import { readFileSync } from 'node:fs'
import { zipSync } from 'fflate'
import { describe, expect, it } from 'vitest'
import { parseDpkgStatus, dpkgAnalyzer } from '../../src/analyzers/dpkg.js'
import { javaArchiveAnalyzer, MAX_JAR_DEPTH } from '../../src/analyzers/java-archive.js'
import type { AnalyzerResult } from '../../src/analyzers/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'

/**
 * No silent evasion: a limit or a damaged part drops only that part, the rest of the file still
 * counts, and the result names what was skipped.
 */

noteSharedMissing('analyzer warnings (real jar, real dpkg status)')
const enc = new TextEncoder()
const APP_JAR = 'e2e/grype/test/integration/testdata/image-debian-match-coverage/java/example-java-app-maven-0.1.0.jar'
const TEXLIVE = 'pkgdb/dpkg/claircore/texlive.status'

/** log4j-core's own jar as Maven builds it: pom.properties under META-INF/maven/<group>/<artifact>/. */
function log4jCore(inside: Record<string, Uint8Array> = {}): Uint8Array {
  return zipSync({
    'META-INF/MANIFEST.MF': enc.encode('Manifest-Version: 1.0\nImplementation-Title: Apache Log4j Core\nImplementation-Version: 2.14.1\nImplementation-Vendor-Id: org.apache.logging.log4j\n\n'),
    'META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties': enc.encode('#Created by Apache Maven 3.6.3\nversion=2.14.1\ngroupId=org.apache.logging.log4j\nartifactId=log4j-core\n'),
    'org/apache/logging/log4j/core/lookup/JndiLookup.class': new Uint8Array(64),
    ...inside,
  })
}

/** `inner` wrapped in `levels` jars: lib/level0.jar!lib/level1.jar!…, innermost last. */
function wrap(inner: Uint8Array, levels: number, innerName = 'log4j-core-2.14.1.jar'): Uint8Array {
  let jar = inner
  let name = innerName
  for (let i = levels - 1; i >= 0; i--) {
    jar = zipSync({ [`lib/${name}`]: jar })
    name = `level${i}.jar`
  }
  return jar
}

async function parse(bytes: Uint8Array, path: string): Promise<AnalyzerResult> {
  return javaArchiveAnalyzer.parse(bytes, { path, size: bytes.length, mode: 0o644 })
}

const purls = (r: AnalyzerResult) => (r.packages ?? []).map((p) => p.purl).sort()

describe.skipIf(!HAS_SHARED)('java archives: a limit drops only what is past it, with a warning', () => {
  it('a real application jar keeps its own packages when a log4j-core jar sits past the nesting limit', async () => {
    const app = readFileSync(sharedPath(APP_JAR))
    const own = purls(await parse(app, 'opt/app.jar'))
    expect(own).toContain('pkg:maven/org.anchore/example-java-app-maven@0.1.0')
    // Add a chain whose innermost jar (log4j-core) is five archives below the application jar.
    const { unzipSync } = await import('fflate')
    const entries = unzipSync(app)
    const chain = wrap(log4jCore(), 4)
    const tampered = zipSync({ ...entries, 'BOOT-INF/lib/level0.jar': chain })
    const result = await parse(tampered, 'opt/app.jar')
    expect(purls(result)).toEqual(own)
    expect(result.warnings?.map((w) => w.code)).toEqual(['ERR_ARCHIVE_BOMB'])
    expect(result.warnings?.[0]?.message).toContain(`opt/app.jar!BOOT-INF/lib/level0.jar!lib/level1.jar!lib/level2.jar!lib/level3.jar!lib/log4j-core-2.14.1.jar: archives nested deeper than ${MAX_JAR_DEPTH}`)
    // One level shallower, log4j-core is read.
    const within = await parse(zipSync({ ...entries, 'BOOT-INF/lib/level0.jar': wrap(log4jCore(), 3) }), 'opt/app.jar')
    expect(purls(within)).toContain('pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1')
    expect(within.warnings).toBeUndefined()
  })
})

describe('java archives without shared data', () => {
  it('log4j-core holding a jar nested five deep is still log4j-core 2.14.1, and the skip is named', async () => {
    const junk = wrap(zipSync({ 'META-INF/maven/org.example/deep/pom.properties': enc.encode('groupId=org.example\nartifactId=deep\nversion=1\n') }), MAX_JAR_DEPTH, 'deep.jar')
    const result = await parse(log4jCore({ 'META-INF/lib/level0.jar': junk }), 'opt/log4j-core-2.14.1.jar')
    expect(purls(result)).toEqual(['pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1'])
    expect(result.warnings).toHaveLength(1)
    expect(result.warnings?.[0]).toMatchObject({ code: 'ERR_ARCHIVE_BOMB' })
  })

  it('a corrupt nested jar and an entry past the inflate budget are skipped with warnings; the rest counts', async () => {
    const broken = zipSync({ 'lib/broken.jar': enc.encode('PK\u0003\u0004 not really a zip'), 'lib/ok.jar': log4jCore() })
    const result = await parse(broken, 'opt/war.war')
    expect(purls(result)).toEqual(['pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1'])
    expect(result.warnings?.map((w) => w.code)).toEqual(['ERR_PKGDB_CORRUPT'])
    expect(result.warnings?.[0]?.message).toMatch(/^opt\/war\.war!lib\/broken\.jar: .*; skipped$/)
  })
})

describe.skipIf(!HAS_SHARED)('dpkg status: a NUL byte drops only its stanza, with a warning', () => {
  const status = readFileSync(sharedPath(TEXLIVE))
  const all = parseDpkgStatus(status, 'var/lib/dpkg/status').packages ?? []

  it('keeps every other package of a real status file (claircore texlive, Ubuntu 18.04)', async () => {
    expect(all.length).toBeGreaterThan(300)
    const victim = all[100]!.name
    const at = status.indexOf(`Package: ${victim}\n`)
    const description = status.indexOf('Description:', at)
    const poisoned = Buffer.concat([status.subarray(0, description), Buffer.from([0]), status.subarray(description)])
    const result = await dpkgAnalyzer.parse(poisoned, { path: 'var/lib/dpkg/status', size: poisoned.length, mode: 0o644 })
    expect(result.packages?.map((p) => p.name)).toEqual(all.map((p) => p.name).filter((n) => n !== victim))
    expect(result.warnings).toHaveLength(1)
    expect(result.warnings?.[0]).toMatchObject({ code: 'ERR_PKGDB_CORRUPT', details: { skipped: 1 } })
    expect(result.warnings?.[0]?.message).toContain(victim)
  })

  it('a NUL in the first and in the last stanza drops just those two', () => {
    const poisoned = Buffer.concat([Buffer.from([0]), status, Buffer.from('\n\0')])
    const result = parseDpkgStatus(poisoned, 'var/lib/dpkg/status')
    expect(result.packages?.map((p) => p.name)).toEqual(all.slice(1).map((p) => p.name))
    expect(result.warnings?.[0]?.details).toEqual({ skipped: 2 })
  })
})
