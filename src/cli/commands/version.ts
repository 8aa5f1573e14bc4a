import { createInterface } from 'node:readline'
import { VigilError } from '../../errors.js'
import { VIGIL_VERSION } from '../../version.js'
import { getScheme, schemeNames } from '../../versions/index.js'
import type { VersionScheme } from '../../versions/types.js'
import { EXIT, parseCommandArgs, type CliIo, type Command } from '../command.js'

const usage = `Usage: vigil version [--format text|json]
       vigil version compare <scheme> [A B]

With no subcommand, print Vigil's version (as \`vigil --version\` does).

compare: compare two versions under a version scheme and print -1 (A < B), 0 (equal) or 1 (A > B).
With no A B, read "A<TAB>B" lines from stdin and print one result per line; a line that does
not parse prints "error" (one output line per input line, so the output pairs up with the input).

Schemes: ${schemeNames().join(', ')}

Examples:
  vigil version compare dpkg 1:1.2-1 1.3-1          # 1 (the epoch wins)
  vigil version compare rpm 1.0~rc1-1 1.0-1          # -1
  printf '1.0\\t1.0.0\\n' | vigil version compare maven   # 0

Exit codes: 0 ok, 2 unknown scheme, bad usage, or (with A B) an invalid version.`

async function compareStream(scheme: VersionScheme, io: CliIo): Promise<void> {
  const lines = createInterface({ input: io.stdin, crlfDelay: Infinity })
  let out = ''
  for await (const line of lines) {
    // The reader went away (`| head`): the rest of the answers are not wanted.
    if ((io.stdout as { destroyed?: boolean }).destroyed) break
    const tab = line.indexOf('\t')
    let result = 'error'
    if (tab >= 0) {
      try {
        result = String(scheme.compare(line.slice(0, tab), line.slice(tab + 1)))
      } catch (err) {
        if (!VigilError.is(err)) throw err
      }
    }
    out += result + '\n'
    // batch writes: cross-checks pipe hundreds of thousands of lines through here
    if (out.length > 65536) {
      io.stdout.write(out)
      out = ''
    }
  }
  if (out) io.stdout.write(out)
}

export const versionCommand: Command = {
  name: 'version',
  summary: 'print Vigil\'s version; `version compare` compares versions under a scheme (dpkg, rpm, …)',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(argv, { format: { type: 'string', short: 'f' } }, usage)
    const [sub, schemeName, a, b, ...extra] = positionals
    if (sub === undefined) {
      const format = values.format ?? 'text'
      if (format !== 'text' && format !== 'json') throw new VigilError('ERR_USAGE', `--format must be text or json\n\n${usage}`)
      io.stdout.write(format === 'json' ? JSON.stringify({ version: VIGIL_VERSION }) + '\n' : `vigil ${VIGIL_VERSION}\n`)
      return EXIT.ok
    }
    if (sub !== 'compare' || schemeName === undefined || (a !== undefined && b === undefined) || extra.length > 0) {
      throw new VigilError('ERR_USAGE', usage)
    }
    const scheme = getScheme(schemeName)
    if (a !== undefined && b !== undefined) {
      io.stdout.write(`${scheme.compare(a, b)}\n`)
      return EXIT.ok
    }
    await compareStream(scheme, io)
    return EXIT.ok
  },
}

export default versionCommand
