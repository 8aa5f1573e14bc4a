import type { Analyzer, FileInfo } from './types.js'
import { langPackage } from './lang/common.js'
import { readZipDirectory, readZipEntry } from './lang/zip.js'
import { parseCoreMetadata } from './python-dist.js'

/** Zipped eggs (`*.egg`): the distribution's metadata is `EGG-INFO/PKG-INFO` inside the zip. */
export const pythonEggAnalyzer: Analyzer = {
  name: 'python-egg',
  version: 1,
  kind: 'lang',
  maxBytes: 128 * 1024 * 1024,
  match(file: FileInfo): boolean {
    return file.path.endsWith('.egg')
  },
  parse(bytes, ctx) {
    const entry = readZipDirectory(bytes, ctx.path).find((e) => e.name === 'EGG-INFO/PKG-INFO')
    if (!entry) return { packages: [] }
    const meta = parseCoreMetadata(readZipEntry(bytes, entry, { remaining: 8 * 1024 * 1024 }, ctx.path), ctx.path)
    return { packages: meta ? [langPackage('PyPI', meta.name, meta.version, ctx.path)] : [] }
  },
}
