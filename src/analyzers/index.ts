import { apkAnalyzer } from './apk.js'
import { dpkgFilesAnalyzer } from './dpkg-files.js'
import { dpkgAnalyzer } from './dpkg.js'
import { osReleaseAnalyzer } from './os-release.js'
import { rpmAnalyzer, rpmManifestAnalyzer } from './rpm.js'
import { cargoLockAnalyzer } from './cargo-lock.js'
import { composerInstalledAnalyzer } from './composer-installed.js'
import { dotnetDepsAnalyzer } from './dotnet-deps.js'
import { gemspecAnalyzer } from './gemspec.js'
import { javaArchiveAnalyzer } from './java-archive.js'
import { langBinaryAnalyzer } from './lang-binary.js'
import { npmPackageAnalyzer } from './npm-package.js'
import { pythonDistAnalyzer } from './python-dist.js'
import { pythonEggAnalyzer } from './python-egg.js'
import type { Analyzer } from './types.js'

/**
 * The analyzer registry: an explicit array, one line per analyzer. Adding an ecosystem is one
 * file in this folder plus one line here.
 */
export const ANALYZERS: readonly Analyzer[] = [
  osReleaseAnalyzer,
  apkAnalyzer,
  dpkgAnalyzer,
  dpkgFilesAnalyzer,
  rpmAnalyzer,
  rpmManifestAnalyzer,
  npmPackageAnalyzer,
  pythonDistAnalyzer,
  pythonEggAnalyzer,
  langBinaryAnalyzer,
  javaArchiveAnalyzer,
  cargoLockAnalyzer,
  gemspecAnalyzer,
  composerInstalledAnalyzer,
  dotnetDepsAnalyzer,
]

/** Changes whenever any analyzer is added, removed or bumped: part of the layer-cache key. */
export function analyzerSetVersion(analyzers: readonly Analyzer[] = ANALYZERS): string {
  return analyzers.map((a) => `${a.name}@${a.version}`).sort().join(',')
}
