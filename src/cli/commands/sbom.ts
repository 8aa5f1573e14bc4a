import { writeFile } from 'node:fs/promises'
import { resolveDataDir } from '../../config.js'
import { VigilError } from '../../errors.js'
import { buildTargetInventory } from '../../scan/filesystem.js'
import { toCycloneDx } from '../../sbom/cyclonedx.js'
import { toSpdx } from '../../sbom/spdx.js'
import { EXIT, COMMON_OPTIONS, outputFile, parseCommandArgs, parseTimeoutMs, withTimeout, type CliIo, type Command } from '../command.js'
import { IMAGE_OPTIONS, IMAGE_OPTIONS_USAGE, imageSource } from '../image-options.js'
import { scanProgress } from '../progress.js'

const FORMATS = ['cyclonedx', 'spdx-json', 'json'] as const
type Format = (typeof FORMATS)[number]

const usage = `Usage: vigil sbom <target> [options]

Writes the image's inventory (its SBOM). Layers already analysed with the same analyzers are
read from the layer cache in the data dir, not pulled again.

Targets: oci:DIR[:TAG]  docker-archive:FILE  HOST/REPO:TAG  HOST/REPO@sha256:…  dir:PATH  rootfs:PATH

Options:
  -f, --format FORMAT      cyclonedx (default) | spdx-json | json (Vigil's inventory)
      --data DIR           data dir for the layer cache (default $VIGIL_DATA, else
                           $XDG_DATA_HOME/vigil or ~/.local/share/vigil)
  -o, --output FILE        write here instead of stdout (a format is -f, not -o)
${IMAGE_OPTIONS_USAGE}
      --timeout DURATION   give up after this long (90s, 5m, 1h30m), ERR_TIMEOUT, exit 3
      --no-progress        no progress on stderr (a bar on a terminal, else one line per step)
  -q, --quiet              no progress and no warnings on stderr
      --config FILE        defaults from a YAML file (see docs/configuration.md)
  -h, --help`

const options = { ...COMMON_OPTIONS, ...IMAGE_OPTIONS, timeout: { type: 'string' }, 'no-progress': { type: 'boolean' } } as const

export const sbomCommand: Command = {
  name: 'sbom',
  summary: 'write an image inventory as CycloneDX, SPDX or JSON',
  usage,
  options,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(argv, options, usage)
    if (positionals.length !== 1) throw new VigilError('ERR_USAGE', `expected one target, got ${positionals.length}\n\n${usage}`)
    const format = (values.format ?? 'cyclonedx') as Format
    if (!FORMATS.includes(format)) throw new VigilError('ERR_USAGE', `unknown --format "${values.format}" (one of ${FORMATS.join(', ')})`)

    const output = outputFile(values.output)
    const timeoutMs = parseTimeoutMs(values.timeout)
    const progress = scanProgress(io.stderr, !values.quiet && !values['no-progress'], 'vigil sbom')
    const source = await imageSource(positionals[0]!, values, io.env)
    let result
    try {
      result = await withTimeout(timeoutMs, `inventory of ${positionals[0]}`, (signal) =>
        buildTargetInventory(positionals[0]!, {
          dataDir: resolveDataDir(values.data, io.env),
          ...source,
          onProgress: progress.onProgress,
          ...(signal ? { signal } : {}),
        }),
      )
    } finally {
      progress.stop()
    }
    if (!values.quiet) {
      for (const e of result.errors) io.stderr.write(`vigil sbom: warning ${e.code}: ${e.message}\n`)
    }
    const doc = format === 'json' ? result.inventory : format === 'spdx-json' ? toSpdx(result.inventory) : toCycloneDx(result.inventory)
    const text = JSON.stringify(doc, null, 2) + '\n'
    if (output) await writeFile(output, text)
    else io.stdout.write(text)
    return EXIT.ok
  },
}

export default sbomCommand
