import { writeFileSync } from 'node:fs'
import { resolveDataDir } from '../../config.js'
import { VigilError } from '../../errors.js'
import { openStore } from '../../store/env.js'
import { ensureSchema } from '../../assess/rebuild.js'
import { imagesAffectedBy, imagesWithPackage, topRisks } from '../../assess/query.js'
import { COMMON_OPTIONS, EXIT, outputFile, parseCommandArgs, type CliIo, type Command } from '../command.js'

const usage = `Usage: vigil query package <purl>[@<range>] [--format table|json] [--data DIR] [-o FILE]
       vigil query vuln <ID or alias> [--format table|json] [--data DIR] [-o FILE]
       vigil query top [--limit N] [--format table|json] [--data DIR] [-o FILE]

Ask the fleet index (every image scanned into --data) without re-scanning anything.

  package   images that contain a package. The purl names it without a version
            (pkg:deb/debian/openssl, pkg:pypi/django, pkg:golang/golang.org/x/net); an optional
            @<range> keeps only installed versions in it, compared in the ecosystem's own scheme:
            an exact version, or comparators separated by spaces or commas (">=3.0.0 <3.0.11").
            OS packages match by binary or source name, in every release of the distro.
  vuln      images affected by an advisory id or any alias of it (CVE-…, GHSA-…, GO-…, DSA-…)
  top       the fleet's highest-risk advisories, with how many images carry each (default 20)

Examples:
  vigil query package 'pkg:deb/debian/openssl@<3.0.11'
  vigil query vuln CVE-2023-44487 --format json
  vigil query top --limit 10

Exit codes: 0 ok (also when nothing matches), 2 bad usage or input, 3 store error.`

type Row = Record<string, string | number | boolean | undefined>

function table(rows: Row[], columns: string[]): string {
  if (rows.length === 0) return 'no matches\n'
  const cell = (v: unknown) => (v === undefined ? '' : Array.isArray(v) ? v.join(',') : String(v))
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => Math.min(72, cell(r[c]).length))))
  const line = (values: string[]) => values.map((v, i) => v.slice(0, 72).padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n') + '\n'
}

const options = { ...COMMON_OPTIONS, limit: { type: 'string' } } as const

export const queryCommand: Command = {
  name: 'query',
  summary: 'ask the fleet index: images with a package, images affected by a vulnerability, top risks',
  usage,
  options,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(argv, options, usage)
    const output = outputFile(values.output)
    const [what, subject, ...extra] = positionals
    const format = values.format ?? 'table'
    if (format !== 'table' && format !== 'json') throw new VigilError('ERR_USAGE', `--format must be table or json\n\n${usage}`)
    if (extra.length > 0 || what === undefined) throw new VigilError('ERR_USAGE', usage)
    if ((what === 'package' || what === 'vuln') && !subject) throw new VigilError('ERR_USAGE', `vigil query ${what} needs an argument\n\n${usage}`)
    if (what === 'top' && subject) throw new VigilError('ERR_USAGE', usage)
    const limit = values.limit === undefined ? 20 : Number(values.limit)
    if (!Number.isInteger(limit) || limit < 1) throw new VigilError('ERR_USAGE', '--limit must be a positive integer')

    const store = openStore(resolveDataDir(values.data, io.env))
    try {
      ensureSchema(store)
      let out: string
      if (what === 'package') {
        const hits = imagesWithPackage(store, subject!)
        out = format === 'json' ? JSON.stringify(hits, null, 2) + '\n' : table(hits as unknown as Row[], ['digest', 'reference', 'name', 'version', 'path'])
      } else if (what === 'vuln') {
        const hits = imagesAffectedBy(store, subject!)
        out = format === 'json' ? JSON.stringify(hits, null, 2) + '\n' : table(hits as unknown as Row[], ['digest', 'reference', 'id', 'name', 'version', 'severity', 'state', 'fixedVersions', 'risk'])
      } else if (what === 'top') {
        const rows = topRisks(store, limit)
        out = format === 'json' ? JSON.stringify(rows, null, 2) + '\n' : table(rows as unknown as Row[], ['id', 'risk', 'severity', 'kev', 'epss', 'images', 'packages'])
      } else {
        throw new VigilError('ERR_USAGE', `unknown query "${what}"\n\n${usage}`)
      }
      if (output) writeFileSync(output, out)
      else io.stdout.write(out)
      return EXIT.ok
    } finally {
      await store.close()
    }
  },
}
