import cliProgress from 'cli-progress'
import { resolveDataDir } from '../../config.js'
import { VigilError } from '../../errors.js'
import { reassessAfterImport } from '../../assess/index.js'
import { ensureSchema } from '../../assess/rebuild.js'
import { importFeeds, type ImportReport } from '../../match/index.js'
import { advisoryStatus, type AdvisoryStatus } from '../../store/advisories.js'
import { openStore, type Store } from '../../store/env.js'
import { DEFAULT_ALPINE_BRANCHES, sourceNamed } from '../../feeds/sources/index.js'
import { describeSources, syncFeeds, syncStates, type SyncOptions, type SyncProgress, type SyncReport } from '../../feeds/sync.js'
import { COMMON_OPTIONS, EXIT, parseCommandArgs, type CliIo, type Command } from '../command.js'

const usage = `Usage: vigil db update [--source NAME]... [--mirror URL|DIR] [options]
       vigil db import <path>... [--data DIR] [--format table|json]
       vigil db status [--data DIR] [--format table|json]

update  Fetch vulnerability data from its primary sources and import what changed:
${sourceLines()}
        Requests are conditional (ETag / If-Modified-Since): an unchanged source costs one small
        request. OSV reads all.zip once, then only the records its modified_id.csv shows changed.
        A record a source no longer lists is withdrawn. Images already scanned into the data dir
        are re-assessed against what changed. HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured.
  --source NAME          only this source (osv, debian, alpine, epss, kev) or unit (osv/PyPI,
                         alpine/v3.19); repeatable
  --mirror URL|DIR       fetch everything from BASE/<source>/<upstream path> instead (air-gapped
                         sites; docs/feeds.md shows the layout)
  --base NAME=URL|DIR    another base for one source; repeatable
  --osv-ecosystems LIST  OSV ecosystem folders (default: every ecosystem the scanner produces)
  --alpine-branches LIST Alpine branches (default: ${DEFAULT_ALPINE_BRANCHES[0]}…${DEFAULT_ALPINE_BRANCHES.at(-1)})
  --timeout SECONDS      wait for headers, and between body chunks, at most this long (default 30)
  --retries N            attempts per request after the first (default 3; 429/5xx/resets/timeouts)

import  Load vulnerability data. Each path is a file or a directory (read recursively); the
        format is detected from the content: OSV JSON / NDJSON / zip (osv.dev's per-ecosystem
        all.zip), Alpine secdb JSON, Debian security-tracker JSON, nodejs security-wg npm
        advisories, EPSS CSV (plain or .gz), CISA KEV JSON. Malformed records are reported and
        skipped; the rest is imported. Re-importing unchanged data changes nothing. Images
        already scanned into the data dir are re-assessed against what changed.
status  Each source's last successful sync and its age (a stale source is a warning), record
        counts per ecosystem, newest modification, EPSS/KEV dates.

Exit codes: 0 ok (record-level errors are listed on stderr), 2 a path is unreadable or of an
unknown format, 3 the store failed or (update) a source failed; the others were still imported.`

function sourceLines(): string {
  return describeSources().map((s) => `          ${s.name.padEnd(7)} ${s.title}, ${s.defaultBase}`).join('\n')
}

const num = (n: number) => n.toLocaleString('en-US')

function printImport(report: ImportReport, io: CliIo, quiet: boolean): void {
  const sources = Object.entries(report.sources).map(([f, n]) => `${f} ${num(n)}`).join(', ') || 'none'
  if (!quiet) {
    io.stdout.write(
      `imported ${num(report.files)} file(s) (${sources}) in ${report.elapsedMs} ms: ` +
        `${num(report.added)} added, ${num(report.changed)} changed, ${num(report.unchanged)} unchanged, ` +
        `${num(report.withdrawn)} withdrawn, ${num(report.skipped)} skipped; ` +
        `${num(report.delta.packageKeys.length)} package(s) affected by the change\n`,
    )
    if (report.exploit.epss || report.exploit.kev) {
      io.stdout.write(`exploit data: ${num(report.exploit.epss)} EPSS rows, ${num(report.exploit.kev)} KEV entries, ${num(report.exploit.changedCves.length)} CVE(s) changed\n`)
    }
  }
  const shown = report.errors.slice(0, 20)
  for (const e of shown) io.stderr.write(`  ${e.code} ${e.file}${e.id ? ` ${e.id}` : ''}: ${e.message}\n`)
  if (report.errors.length > shown.length) io.stderr.write(`  … and ${num(report.errors.length - shown.length)} more (use --format json for all)\n`)
}

/** Per sync unit: last success, its age, and whether that is older than the source's threshold. */
export interface SyncStatusRow {
  unit: string
  lastSuccess?: string
  ageSeconds?: number
  stale: boolean
  lastError?: { code: string; message: string; at: string }
}

export function syncStatus(store: Store, now = Date.now()): SyncStatusRow[] {
  const rows: SyncStatusRow[] = []
  for (const [unit, state] of [...syncStates(store)].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const source = sourceNamed(unit.split('/')[0]!)
    const age = state.lastSuccess ? Math.max(0, Math.round((now - Date.parse(state.lastSuccess)) / 1000)) : undefined
    const row: SyncStatusRow = { unit, stale: age === undefined || (source !== undefined && age * 1000 > source.staleAfterMs) }
    if (state.lastSuccess) row.lastSuccess = state.lastSuccess
    if (age !== undefined) row.ageSeconds = age
    if (state.lastError) row.lastError = state.lastError
    rows.push(row)
  }
  return rows
}

function ago(seconds: number): string {
  if (seconds < 120) return `${seconds} s`
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`
  return `${Math.round(seconds / 86_400)} d`
}

function printStatus(path: string, s: AdvisoryStatus, sync: readonly SyncStatusRow[], io: CliIo): void {
  const lines = [`store ${path}`, '', 'SYNC UNIT               LAST SUCCESSFUL SYNC       AGE']
  for (const r of sync) {
    const note = r.lastError ? `  last attempt failed: ${r.lastError.code}` : ''
    lines.push(`${r.unit.padEnd(22)}  ${(r.lastSuccess ?? 'never').padEnd(24)}  ${r.ageSeconds === undefined ? '-' : ago(r.ageSeconds)}${r.stale ? '  WARNING stale' : ''}${note}`)
  }
  if (sync.length === 0) lines.push('(never synced: vigil db update)')
  lines.push('', 'SOURCE            RECORDS  LAST IMPORT               NEWEST MODIFIED')
  for (const [name, m] of Object.entries(s.sources).sort()) {
    lines.push(`${name.padEnd(16)} ${num(m.records).padStart(8)}  ${m.lastImport.padEnd(24)}  ${m.lastModified ?? '-'}`)
  }
  if (Object.keys(s.sources).length === 0) lines.push('(no advisories imported: vigil db import <path>)')
  lines.push('', 'ECOSYSTEM             PACKAGES  ADVISORIES')
  for (const [eco, c] of Object.entries(s.ecosystems).sort()) lines.push(`${eco.padEnd(20)} ${num(c.packages).padStart(9)}  ${num(c.advisories).padStart(10)}`)
  lines.push('', `EPSS  ${num(s.exploit.epss)} CVEs${s.exploit.epssDate ? ` (scores of ${s.exploit.epssDate})` : ''}`)
  lines.push(`KEV   ${num(s.exploit.kev)} CVEs${s.exploit.kevDate ? ` (catalogue of ${s.exploit.kevDate})` : ''}`)
  io.stdout.write(lines.join('\n') + '\n')
}

/**
 * A one-line progress counter on a TTY. Hand-written rather than cli-progress: the total is not
 * known until every file is read, and a bar without a total is just this line.
 */
function progress(io: CliIo): { update: (p: { file: string; records: number }) => void; done: () => void } {
  if (!io.stderr.isTTY) return { update: () => {}, done: () => {} }
  let last = 0
  return {
    update: ({ file, records }) => {
      const now = Date.now()
      if (now - last < 100) return
      last = now
      io.stderr.write(`\r\x1b[K${num(records)} records… ${file.slice(-60)}`)
    },
    done: () => io.stderr.write('\r\x1b[K'),
  }
}

const DB_OPTIONS = {
  ...COMMON_OPTIONS,
  source: { type: 'string', multiple: true },
  mirror: { type: 'string' },
  base: { type: 'string', multiple: true },
  'osv-ecosystems': { type: 'string' },
  'alpine-branches': { type: 'string' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
} as const

type DbValues = ReturnType<typeof parseCommandArgs<typeof DB_OPTIONS>>['values']

const list = (v: string) => v.split(',').map((x) => x.trim()).filter((x) => x !== '')

function updateOptions(values: DbValues, io: CliIo): SyncOptions {
  const options: SyncOptions = { env: io.env, selectors: values.source?.flatMap(list) ?? [] }
  if (values.mirror) options.mirror = values.mirror
  if (values['osv-ecosystems']) options.osvEcosystems = list(values['osv-ecosystems'])
  if (values['alpine-branches']) options.alpineBranches = list(values['alpine-branches'])
  const bases: Record<string, string> = {}
  for (const b of values.base ?? []) {
    const eq = b.indexOf('=')
    const name = b.slice(0, eq)
    if (eq <= 0 || !sourceNamed(name)) throw new VigilError('ERR_USAGE', `--base ${b}: expected NAME=URL with NAME one of ${describeSources().map((s) => s.name).join(', ')}`)
    bases[name] = b.slice(eq + 1)
  }
  options.bases = bases
  const fetch: SyncOptions['fetch'] = {}
  if (values.timeout !== undefined) {
    const t = Number(values.timeout)
    if (!(t > 0)) throw new VigilError('ERR_USAGE', `--timeout ${values.timeout}: a number of seconds above 0`)
    fetch.timeoutMs = t * 1000
  }
  if (values.retries !== undefined) {
    const r = Number(values.retries)
    if (!Number.isInteger(r) || r < 0 || r > 10) throw new VigilError('ERR_USAGE', `--retries ${values.retries}: a whole number from 0 to 10`)
    fetch.attempts = r + 1
  }
  options.fetch = fetch
  return options
}

function mb(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} KB`
}

function printSync(report: SyncReport, io: CliIo, quiet: boolean): void {
  for (const sel of report.unknown) io.stderr.write(`vigil db update: --source ${sel} names no source or unit\n`)
  if (!quiet) {
    const lines = ['UNIT                    STATUS     MODE           ADDED   CHANGED  WITHDRAWN       BYTES  REQ  SECONDS']
    for (const u of report.units) {
      const counts = u.source === 'epss' || u.source === 'kev' ? [`${num(u.exploit)} rows`, '', ''] : [num(u.added), num(u.changed), num(u.withdrawn)]
      lines.push(`${u.unit.padEnd(22)}  ${u.status.padEnd(9)}  ${(u.mode ?? '-').padEnd(12)}  ${counts[0]!.padStart(7)}  ${counts[1]!.padStart(8)}  ${counts[2]!.padStart(9)}  ${mb(u.bytes).padStart(10)}  ${String(u.requests).padStart(3)}  ${u.seconds.toFixed(2).padStart(7)}`)
    }
    io.stdout.write(lines.join('\n') + '\n')
    if (report.reassessed.images > 0) io.stdout.write(`re-assessed stored images: findings changed in ${num(report.reassessed.images)} image(s)\n`)
  }
  for (const u of report.units) {
    if (u.error) io.stderr.write(`vigil db update: ${u.unit} failed: ${u.error.code}: ${u.error.message}\n`)
    const shown = u.recordErrors.slice(0, 5)
    for (const e of shown) io.stderr.write(`  ${u.unit}: ${e.code} ${e.file}${e.id ? ` ${e.id}` : ''}: ${e.message}\n`)
    if (u.recordErrors.length > shown.length) io.stderr.write(`  ${u.unit}: … and ${num(u.recordErrors.length - shown.length)} more record errors (use --format json for all)\n`)
  }
}

/** One bar over the units on a TTY: cli-progress redraws in place and clears on stop. */
function syncProgress(io: CliIo, quiet: boolean): { update: (p: SyncProgress) => void; done: () => void } {
  if (quiet || !io.stderr.isTTY) return { update: () => {}, done: () => {} }
  const bar = new cliProgress.SingleBar(
    { stream: io.stderr as NodeJS.WritableStream, format: ' sync [{bar}] {value}/{total} | {unit} {phase}', hideCursor: true, clearOnComplete: true, fps: 10 },
    cliProgress.Presets.shades_classic,
  )
  let started = false
  return {
    update: (p) => {
      if (!started) {
        bar.start(p.total, 0, { unit: p.unit, phase: p.phase })
        started = true
      }
      const phase = p.records !== undefined ? `${p.phase} ${num(p.records)} records` : p.phase
      bar.update(p.phase === 'done' ? p.index + 1 : p.index, { unit: p.unit, phase })
    },
    done: () => {
      if (started) bar.stop()
    },
  }
}

export const dbCommand: Command = {
  name: 'db',
  summary: 'fetch and import vulnerability feeds (OSV, Debian, Alpine, EPSS, KEV) and show their status',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(argv, DB_OPTIONS, usage)
    const [sub, ...paths] = positionals
    const format = values.format ?? 'table'
    if (format !== 'table' && format !== 'json') throw new VigilError('ERR_USAGE', `--format must be table or json\n\n${usage}`)
    if (sub === 'update') {
      if (paths.length > 0) throw new VigilError('ERR_USAGE', `db update takes no paths (use --mirror DIR, or db import for files)\n\n${usage}`)
      const options = updateOptions(values, io)
      const store = openStore(resolveDataDir(values.data, io.env))
      try {
        const bar = syncProgress(io, values.quiet ?? false)
        const report = await syncFeeds(store, { ...options, onProgress: bar.update })
        bar.done()
        if (format === 'json') io.stdout.write(JSON.stringify(report, null, 2) + '\n')
        else printSync(report, io, values.quiet ?? false)
        return report.units.some((u) => u.status === 'failed') ? EXIT.runtime : EXIT.ok
      } finally {
        await store.close()
      }
    }
    if (sub === 'import') {
      if (paths.length === 0) throw new VigilError('ERR_USAGE', `db import needs at least one path\n\n${usage}`)
      const store = openStore(resolveDataDir(values.data, io.env))
      try {
        const bar = progress(io)
        ensureSchema(store)
        const report = await importFeeds(store, paths, { onProgress: bar.update })
        bar.done()
        // Images already scanned into this data dir are brought up to date with what changed
        // (reassessAfterImport also finishes any re-assessment an earlier import left pending).
        const changedImages = new Set<string>()
        const reassessed = reassessAfterImport(store, report, { onChange: (e) => changedImages.add(e.digest) })
        if (format === 'json') io.stdout.write(JSON.stringify({ ...report, reassessed: { ...reassessed, changedImages: [...changedImages] } }, null, 2) + '\n')
        else {
          printImport(report, io, values.quiet ?? false)
          if (!values.quiet && changedImages.size > 0) io.stdout.write(`re-assessed stored images: findings changed in ${num(changedImages.size)} image(s)\n`)
        }
        // A named path that cannot be read at all (missing, not a feed, cut short) is an input error.
        const unreadable = report.errors.some((e) => (e.code === 'ERR_FEED_UNREADABLE' || e.code === 'ERR_FEED_FORMAT_UNKNOWN') && paths.includes(e.file))
        return unreadable ? EXIT.usage : EXIT.ok
      } finally {
        await store.close()
      }
    }
    if (sub === 'status') {
      if (paths.length > 0) throw new VigilError('ERR_USAGE', usage)
      const store = openStore(resolveDataDir(values.data, io.env))
      try {
        const status = advisoryStatus(store)
        const sync = syncStatus(store)
        if (format === 'json') io.stdout.write(JSON.stringify({ store: store.path, sync, ...status }, null, 2) + '\n')
        else printStatus(store.path, status, sync, io)
        for (const r of sync) if (r.stale) io.stderr.write(`vigil db status: warning: ${r.unit} ${r.lastSuccess ? `last synced ${ago(r.ageSeconds ?? 0)} ago` : 'has never synced'}; run vigil db update\n`)
        return EXIT.ok
      } finally {
        await store.close()
      }
    }
    throw new VigilError('ERR_USAGE', usage)
  },
}
