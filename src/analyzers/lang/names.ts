/**
 * `true` when the path's last segment is exactly `name`, without allocating (match() runs for
 * every file of a tree): `go.mod`, `a/b/go.mod`, but not `a/xgo.mod`.
 */
export function isNamed(path: string, name: string): boolean {
  if (!path.endsWith(name)) return false
  const before = path.length - name.length
  return before === 0 || path.charCodeAt(before - 1) === 47 /* '/' */
}
