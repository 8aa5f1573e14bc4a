import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, langPackage, utf8 } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * `gradle.lockfile` (Gradle dependency locking; not registered for images, see
 * lang/lockfiles.ts): one `group:artifact:version=configurations` line per locked module. The
 * `empty=` line and comments name nothing. Hand-written: the format is one line per entry.
 */
export const gradleLockAnalyzer: Analyzer = {
  name: 'gradle-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 8 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'gradle.lockfile'),
  parse(bytes, ctx) {
    const out: Package[] = []
    for (const raw of utf8(bytes).split(/\r?\n/)) {
      const line = raw.trim()
      if (line === '' || line.startsWith('#')) continue
      const coords = line.split('=')[0]!.split(':')
      if (coords.length !== 3 || coords.some((c) => c === '')) continue
      out.push(langPackage('Maven', `${coords[0]}:${coords[1]}`, coords[2]!, ctx.path))
    }
    return { packages: dedupe(out) }
  },
}
