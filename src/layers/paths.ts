/**
 * Tar entry paths → image paths: no leading `/` or `./`, no `.` or empty segments, no trailing
 * `/`. Returns `null` for a path whose `..` segments climb above the root: such an entry cannot be
 * placed in the image, so the walker skips it and records ERR_PATH_UNSAFE.
 */
export function normalizeEntryPath(raw: string): string | null {
  let p = raw
  while (p.startsWith('/') || p.startsWith('./')) p = p.startsWith('/') ? p.slice(1) : p.slice(2)
  if (p.endsWith('/')) p = p.replace(/\/+$/, '')
  // Most entries are already clean: skip the segment walk unless a segment could be `.`/`..`/empty.
  if (!p.includes('/.') && !p.includes('//') && !p.startsWith('.')) return p
  if (p === '.') return ''
  const out: string[] = []
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') {
      if (out.length === 0) return null
      out.pop()
      continue
    }
    out.push(seg)
  }
  return out.join('/')
}

/**
 * A hard link's target is relative to the layer root (tar semantics), a symlink's to its own
 * directory; only hard links are resolved here, because symlinks are never followed.
 */
export function normalizeLinkTarget(linkname: string): string | null {
  return normalizeEntryPath(linkname)
}

export function dirname(path: string): string {
  const i = path.lastIndexOf('/')
  return i < 0 ? '' : path.slice(0, i)
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** True when `path` is `dir` itself or lies below it (`''` is the root, above everything). */
export function isAtOrBelow(path: string, dir: string): boolean {
  return dir === '' || path === dir || (path.length > dir.length && path.startsWith(dir) && path.charCodeAt(dir.length) === 47)
}

/** True when `path` lies strictly below `dir`. */
export function isBelow(path: string, dir: string): boolean {
  return dir === '' ? path !== '' : path.length > dir.length && path.startsWith(dir) && path.charCodeAt(dir.length) === 47
}
