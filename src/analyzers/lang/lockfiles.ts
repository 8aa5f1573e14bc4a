import { bunLockAnalyzer } from '../bun-lock.js'
import { cocoapodsLockAnalyzer } from '../cocoapods-lock.js'
import { composerInstalledAnalyzer, parseComposerLock } from '../composer-installed.js'
import { conanLockAnalyzer } from '../conan-lock.js'
import { goModAnalyzer } from '../go-mod.js'
import { gradleLockAnalyzer } from '../gradle-lock.js'
import { mavenPomAnalyzer } from '../maven-pom.js'
import { mixLockAnalyzer } from '../mix-lock.js'
import { npmLockAnalyzer } from '../npm-lock.js'
import { nugetLockAnalyzer } from '../nuget-lock.js'
import { nugetPropsAnalyzer } from '../nuget-props.js'
import { pipRequirementsAnalyzer } from '../pip-requirements.js'
import { pipenvLockAnalyzer } from '../pipenv-lock.js'
import { pnpmLockAnalyzer } from '../pnpm-lock.js'
import { poetryLockAnalyzer } from '../poetry-lock.js'
import { pubspecLockAnalyzer } from '../pubspec-lock.js'
import { pylockAnalyzer } from '../pylock.js'
import { sbtLockAnalyzer } from '../sbt-lock.js'
import { swiftResolvedAnalyzer } from '../swift-resolved.js'
import type { Analyzer } from '../types.js'
import { uvLockAnalyzer } from '../uv-lock.js'
import { yarnLockAnalyzer } from '../yarn-lock.js'

/** composer.lock through the installed.json reader (same `packages` entries, dev list ignored). */
export const composerLockAnalyzer: Analyzer = {
  ...composerInstalledAnalyzer,
  name: 'composer-lock',
  match: (file) => file.path === 'composer.lock' || file.path.endsWith('/composer.lock'),
  parse: (bytes, ctx) => ({ packages: parseComposerLock(bytes, ctx.path) }),
}

/**
 * Composer's installed.json anywhere in a source tree or rootfs (a vendor folder copied or
 * renamed), as Trivy's composer-vendor analyzer takes it by file name. The image analyzer keeps
 * to `…/composer/installed.json`; those paths are left to it so that a caller running both lists
 * does not read the file twice.
 */
export const composerVendorAnalyzer: Analyzer = {
  ...composerInstalledAnalyzer,
  name: 'composer-vendor',
  match: (file) => (file.path === 'installed.json' || file.path.endsWith('/installed.json')) && !file.path.endsWith('composer/installed.json'),
}

/**
 * Lockfile and manifest readers. They are deliberately NOT in the image registry (ANALYZERS): in
 * an image the installed metadata (node_modules/**\/package.json, site-packages METADATA, jars'
 * pom.properties, Go build info, *.deps.json, vendor/composer/installed.json) is what runs, while
 * a lockfile also lists dev and optional platform packages that were never installed. Trivy's
 * image mode makes the same choice. A source-tree or filesystem mode uses this list (the Trivy
 * e2e suite does), and may give `ParseContext.readRelative` so go.mod can read its go.sum.
 */
export const LOCKFILE_ANALYZERS: readonly Analyzer[] = [
  npmLockAnalyzer,
  yarnLockAnalyzer,
  pnpmLockAnalyzer,
  bunLockAnalyzer,
  composerLockAnalyzer,
  composerVendorAnalyzer,
  goModAnalyzer,
  pipRequirementsAnalyzer,
  pipenvLockAnalyzer,
  poetryLockAnalyzer,
  uvLockAnalyzer,
  pylockAnalyzer,
  mavenPomAnalyzer,
  gradleLockAnalyzer,
  sbtLockAnalyzer,
  conanLockAnalyzer,
  nugetLockAnalyzer,
  nugetPropsAnalyzer,
  swiftResolvedAnalyzer,
  cocoapodsLockAnalyzer,
  pubspecLockAnalyzer,
  mixLockAnalyzer,
]
