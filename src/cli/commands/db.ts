import { resolveDataDir } from '../../config.js'
import { VigilError } from '../../errors.js'
import { importAndReassess } from '../../assess/index.js'
import { ensureSchema } from '../../assess/rebuild.js'
import type { ImportReport } from '../../match/index.js'
import { advisoryStatus, type AdvisoryStatus } from '../../store/advisories.js'
import { openStore } from '../../store/env.js'
import { COMMON_OPTIONS, EXIT, parseCommandArgs, type CliIo, type Command } from '../command.js'

const usage = `Usage: vigil db import <path>... [--data DIR] [--format table|json]
       vigil db status [--data DIR] [--format table|json]

import  Load vulnerability data. Each path is a file or a directory (read recursively); the
        format is detected from the content: OSV JSON / NDJSON / zip (osv.dev's per-ecosystem
        all.zip), Alpine secdb JSON, Debian security-tracker JSON, nodejs security-wg npm
        advisories, EPSS CSV (plain or .gz), CISA KEV JSON. Malformed records are reported and
        skipped; the rest is imported. Re-importing unchanged data changes nothing. Images
        already scanned into the data dir are re-assessed against what changed.
status  Sources, record counts per ecosystem, newest modification, EPSS/KEV dates.

Exit codes: 0 ok (record-level errors are listed on stderr), 2 a path is unreadable or of an
unknown format, 3 the store failed.`

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

function printStatus(path: string, s: AdvisoryStatus, io: CliIo): void {
  const lines = [`store ${path}`, '', 'SOURCE            RECORDS  LAST IMPORT               NEWEST MODIFIED']
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

export const dbCommand: Command = {
  name: 'db',
  summary: 'import vulnerability feeds (OSV, Alpine, Debian, EPSS, KEV) and show their status',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(argv, COMMON_OPTIONS, usage)
    const [sub, ...paths] = positionals
    const format = values.format ?? 'table'
    if (format !== 'table' && format !== 'json') throw new VigilError('ERR_USAGE', `--format must be table or json\n\n${usage}`)
    if (sub === 'import') {
      if (paths.length === 0) throw new VigilError('ERR_USAGE', `db import needs at least one path\n\n${usage}`)
      const store = openStore(resolveDataDir(values.data, io.env))
      try {
        const bar = progress(io)
        ensureSchema(store)
        // Images already scanned into this data dir are brought up to date with what changed
        // (re-assessment an earlier, interrupted import left queued included).
        const changedImages = new Set<string>()
        const { report, reassessed } = await importAndReassess(store, paths, { import: { onProgress: bar.update }, reassess: { onChange: (e) => changedImages.add(e.digest) } })
        bar.done()
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
        if (format === 'json') io.stdout.write(JSON.stringify({ store: store.path, ...status }, null, 2) + '\n')
        else printStatus(store.path, status, io)
        return EXIT.ok
      } finally {
        await store.close()
      }
    }
    throw new VigilError('ERR_USAGE', usage)
  },
}
