import { composerInstalledAnalyzer, parseComposerLock } from '../composer-installed.js'
import { npmLockAnalyzer } from '../npm-lock.js'
import { pnpmLockAnalyzer } from '../pnpm-lock.js'
import type { Analyzer } from '../types.js'
import { yarnLockAnalyzer } from '../yarn-lock.js'

/** composer.lock through the installed.json reader (same `packages` entries, dev list ignored). */
export const composerLockAnalyzer: Analyzer = {
  ...composerInstalledAnalyzer,
  name: 'composer-lock',
  match: (file) => file.path === 'composer.lock' || file.path.endsWith('/composer.lock'),
  parse: (bytes, ctx) => ({ packages: parseComposerLock(bytes, ctx.path) }),
}

/**
 * Lockfile readers. They are deliberately NOT in the image registry (ANALYZERS): in an image the
 * installed metadata (node_modules/**\/package.json, vendor/composer/installed.json) is what runs,
 * while a lockfile also lists dev and optional platform packages that were never installed, which
 * is also why Trivy skips these in image mode. A source-tree or filesystem mode can use this list.
 */
export const LOCKFILE_ANALYZERS: readonly Analyzer[] = [npmLockAnalyzer, yarnLockAnalyzer, pnpmLockAnalyzer, composerLockAnalyzer]
