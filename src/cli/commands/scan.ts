import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { resolveDataDir } from '../../config.js'
import { VigilError } from '../../errors.js'
import { TARGET_SYNTAX, parseTarget } from '../../image/reference.js'
import { advisoryCoverage } from '../../feeds/coverage.js'
import { matchInventory } from '../../match/index.js'
import { readIgnoreFile, type IgnoreList } from '../../report/ignore-file.js'
import { REPORT_FORMATS, isReportFormat, renderReport } from '../../report/index.js'
import { applyPolicy, failingFindings, parseFailOn, parseSeverityList, type Policy } from '../../report/policy.js'
import { readVexFile } from '../../report/vex.js'
import { readSbomFile } from '../../sbom/read.js'
import { indexImage } from '../../assess/index-image.js'
import { ensureSchema } from '../../assess/rebuild.js'
import { openStore, type Store } from '../../store/env.js'
import { isDigest, type Inventory } from '../../types.js'
import { COMMON_OPTIONS, EXIT, parseCommandArgs, type CliIo, type Command } from '../command.js'
import { IMAGE_OPTIONS, IMAGE_OPTIONS_USAGE, imageOptions } from '../image-options.js'
import { scanProgress } from '../progress.js'

const FORMATS = Object.keys(REPORT_FORMATS).join('|')
const DEFAULT_IGNORE_FILE = '.vigilignore'

const usage = `Usage: vigil scan <target> [options]

Scan an image (or read an SBOM) and report its vulnerabilities, matched against the advisories
in the data dir (\`vigil db update\` fetches them; \`vigil db import\` loads files). No daemon or
broker needed.

Targets:
  ${TARGET_SYNTAX}

Options:
  -f, --format ${FORMATS}
                           report format (default table; colour only on a terminal)
      --severity LIST      keep only these severities, e.g. CRITICAL,HIGH
                           (CRITICAL, HIGH, MEDIUM, LOW, NEGLIGIBLE, UNKNOWN)
      --ignore-unfixed     leave out findings that have no fixed version yet
      --fail-on SEVERITY   exit 1 when a reported finding is this severe or worse
      --fail-on risk>=N    exit 1 when a reported finding has risk score N or more (0-100)
      --ignore-file FILE   advisory ids to leave out (default ./${DEFAULT_IGNORE_FILE} when present);
                           one id per line with optional "# reason", or YAML with expiry
      --vex FILE           OpenVEX document; not_affected / fixed statements suppress
                           findings (repeatable)
${IMAGE_OPTIONS_USAGE}
      --data DIR           data dir (default $VIGIL_DATA, else ./.vigil)
      --allow-no-data      scan even when the data dir has no advisories for any of the
                           image's ecosystems (otherwise ERR_NO_DATA: run vigil db update)
  -o, --output FILE        write the report to FILE instead of stdout
  -q, --quiet              no progress bar and no notes on stderr

Exit codes: 0 ok, 1 --fail-on tripped, 2 usage or input error, 3 runtime error.
Formats, the ignore file and VEX are described in docs/output-formats.md.

Examples:
  vigil scan oci:./img --severity CRITICAL,HIGH --fail-on HIGH
  vigil scan sbom:app.cdx.json --format sarif -o vigil.sarif
  vigil scan ghcr.io/org/app:1.2 --fail-on 'risk>=70' --vex app.openvex.json`

const options = {
  ...COMMON_OPTIONS,
  severity: { type: 'string' },
  'ignore-unfixed': { type: 'boolean' },
  'fail-on': { type: 'string' },
  'ignore-file': { type: 'string' },
  vex: { type: 'string', multiple: true },
  'allow-no-data': { type: 'boolean' },
  ...IMAGE_OPTIONS,
} as const

async function readSbomTarget(path: string, io: CliIo, quiet: boolean): Promise<Inventory> {
  const result = await readSbomFile(path)
  if (result.skipped.length && !quiet) {
    io.stderr.write(`vigil scan: ${result.skipped.length} SBOM components skipped (no ecosystem Vigil matches), e.g. ${result.skipped[0]?.reason}\n`)
  }
  return result.inventory
}

async function scanImage(target: string, source: ReturnType<typeof imageOptions>, store: Store, io: CliIo, quiet: boolean): Promise<Inventory> {
  // Loaded on demand: reading an SBOM needs neither the image client nor the worker pool.
  const { buildInventoryDetailed } = await import('../../scan/inventory.js')
  const progress = scanProgress(io.stderr, !quiet)
  try {
    const result = await buildInventoryDetailed(target, { ...source, store, onProgress: progress.onProgress })
    if (!quiet) for (const e of result.errors) io.stderr.write(`vigil scan: warning ${e.code}: ${e.message}\n`)
    return result.inventory
  } finally {
    progress.stop()
  }
}

async function loadIgnore(flag: string | undefined): Promise<IgnoreList | undefined> {
  if (flag) return readIgnoreFile(flag)
  return existsSync(DEFAULT_IGNORE_FILE) ? readIgnoreFile(DEFAULT_IGNORE_FILE) : undefined
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, options, usage)
  if (positionals.length !== 1) throw new VigilError('ERR_USAGE', `scan takes one target, got ${positionals.length}\n\n${usage}`)
  const target = positionals[0]!
  const format = values.format ?? 'table'
  if (!isReportFormat(format)) throw new VigilError('ERR_USAGE', `--format ${format}: one of ${FORMATS}`)
  const quiet = values.quiet ?? false
  const note = (text: string) => {
    if (!quiet) io.stderr.write(`vigil scan: ${text}\n`)
  }

  const ignore = await loadIgnore(values['ignore-file'])
  for (const r of ignore?.expired ?? []) note(`ignore entry ${r.id} (${r.origin}) expired on ${r.expires}; no longer applied`)
  const policy: Policy = {
    severities: values.severity ? parseSeverityList(values.severity) : [],
    ignoreUnfixed: values['ignore-unfixed'] ?? false,
    ...(ignore ? { ignore } : {}),
    vex: await Promise.all((values.vex ?? []).map((f) => readVexFile(f))),
    ...(values['fail-on'] ? { failOn: parseFailOn(values['fail-on']) } : {}),
  }

  const source = imageOptions(values, io.env)
  const dataDir = resolveDataDir(values.data, io.env)
  const parsed = parseTarget(target)
  // An SBOM is read before the store opens, so a bad file leaves no data dir behind.
  let inventory = parsed.kind === 'sbom' ? await readSbomTarget(parsed.path, io, quiet) : undefined
  const store = openStore(dataDir)
  let findings
  try {
    inventory ??= await scanImage(target, source, store, io, quiet)
    const coverage = advisoryCoverage(store, inventory)
    if (coverage.covered.length === 0 && coverage.missing.length > 0) {
      const what = `no vulnerability data for this image's ecosystems (${coverage.missing.join(', ')}) in ${dataDir}`
      if (!values['allow-no-data']) throw new VigilError('ERR_NO_DATA', `${what}; run vigil db update (or pass --allow-no-data to scan anyway)`)
      note(`warning: ${what}; the report cannot show their vulnerabilities`)
    } else if (coverage.missing.length > 0) {
      note(`no vulnerability data for ${coverage.missing.join(', ')}; their packages were not matched (vigil db update)`)
    }
    findings = matchInventory(store, inventory)
    // Scanned once, kept: the image's inventory and findings go into the index, so that
    // `vigil query` finds it and `vigil db import` keeps its findings current.
    if (isDigest(inventory.image.digest)) {
      ensureSchema(store)
      indexImage(store, inventory, findings)
    }
  } finally {
    await store.close()
  }

  const kept = applyPolicy(findings, policy, inventory.image)
  const report = { inventory, findings: kept.findings, suppressed: kept.suppressed, generatedAt: new Date().toISOString() }
  const colour = format === 'table' && !values.output && io.stdout.isTTY === true && !io.env.NO_COLOR
  const text = renderReport(format, report, { colour })
  if (values.output) {
    try {
      await writeFile(values.output, text)
    } catch (err) {
      throw new VigilError('ERR_USAGE', `cannot write ${values.output}: ${(err as Error).message}`, { cause: err })
    }
  } else {
    io.stdout.write(text)
  }

  const failing = failingFindings(kept.findings, policy.failOn)
  if (failing.length > 0) {
    note(`policy failed: ${failing.length} findings at --fail-on ${values['fail-on']} (e.g. ${failing[0]!.id} in ${failing[0]!.name})`)
    return EXIT.policy
  }
  return EXIT.ok
}

export const scanCommand: Command = { name: 'scan', summary: 'scan an image or SBOM and report its vulnerabilities', usage, run }
export default scanCommand
