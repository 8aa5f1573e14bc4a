import { VigilError } from '../errors.js'
import type { Analyzer, AnalyzerResult, FileInfo } from './types.js'

/**
 * Files that Debian packages own, for marking language packages that came with the OS
 * (`osOwned`): `var/lib/dpkg/info/<pkg>.list` (one absolute path a line, directories included)
 * and, in distroless images that have no .list files, `var/lib/dpkg/status.d/<pkg>.md5sums`
 * (`<md5>  <relative path>` a line).
 */

const INFO_DIR = 'var/lib/dpkg/info/'
const STATUS_DIR = 'var/lib/dpkg/status.d/'

function isDirectChild(path: string, dir: string, suffix: string): boolean {
  return path.startsWith(dir) && path.endsWith(suffix) && path.indexOf('/', dir.length) < 0 && path.length > dir.length + suffix.length
}

const utf8 = new TextDecoder('utf-8')

export function parseOwnedFiles(bytes: Uint8Array, path: string): AnalyzerResult {
  if (bytes.includes(0)) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: binary data in a dpkg file list`)
  const md5sums = path.endsWith('.md5sums')
  const ownedFiles: string[] = []
  for (const line of utf8.decode(bytes).split('\n')) {
    let file = line
    if (md5sums) {
      const sep = line.indexOf('  ')
      if (sep < 0) continue
      file = line.slice(sep + 2)
    }
    while (file.startsWith('/')) file = file.slice(1)
    if (file === '' || file === '.') continue
    ownedFiles.push(file)
  }
  return { ownedFiles }
}

export const dpkgFilesAnalyzer: Analyzer = {
  name: 'dpkg-files',
  version: 1,
  kind: 'os',
  maxBytes: 64 * 1024 * 1024,
  match: (file: FileInfo) => isDirectChild(file.path, INFO_DIR, '.list') || isDirectChild(file.path, STATUS_DIR, '.md5sums'),
  parse: (bytes, ctx) => parseOwnedFiles(bytes, ctx.path),
}
