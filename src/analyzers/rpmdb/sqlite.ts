import initSqlJs, { type SqlJsStatic } from 'sql.js'
import { VigilError } from '../../errors.js'

/**
 * rpm's sqlite backend (rpmdb.sqlite: Fedora ≥ 33, RHEL 9, CBL-Mariner, Amazon Linux 2023):
 * table `Packages(hnum INTEGER PRIMARY KEY, blob BLOB)`, one header blob per row. Read with
 * sql.js (SQLite compiled to WebAssembly) because Node 20 has no node:sqlite and sql.js opens a
 * database straight from bytes, with no temp file and no native build.
 */

const SQLITE_MAGIC = 'SQLite format 3\0'

let engine: Promise<SqlJsStatic> | undefined

export function isSqlite(bytes: Uint8Array): boolean {
  if (bytes.length < 16) return false
  for (let i = 0; i < 16; i++) if (bytes[i] !== SQLITE_MAGIC.charCodeAt(i)) return false
  return true
}

export async function sqliteBlobs(bytes: Uint8Array): Promise<Uint8Array[]> {
  if (!isSqlite(bytes)) throw new VigilError('ERR_PKGDB_CORRUPT', 'rpm sqlite: not an SQLite database')
  const SQL = await (engine ??= initSqlJs())
  let db
  try {
    db = new SQL.Database(bytes)
    const stmt = db.prepare('SELECT blob FROM Packages ORDER BY hnum')
    const blobs: Uint8Array[] = []
    try {
      while (stmt.step()) {
        const blob = stmt.get()[0]
        if (!(blob instanceof Uint8Array)) throw new VigilError('ERR_PKGDB_CORRUPT', 'rpm sqlite: a Packages row has no blob')
        blobs.push(blob)
      }
    } finally {
      stmt.free()
    }
    return blobs
  } catch (err) {
    if (VigilError.is(err)) throw err
    // SQLite's own messages ("database disk image is malformed", "no such table") say what broke.
    throw new VigilError('ERR_PKGDB_CORRUPT', `rpm sqlite: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  } finally {
    db?.close()
  }
}
