import { VigilError, toErrorRecord } from '../errors.js'
import { VIGIL_VERSION } from '../version.js'
import { EXIT, type CliIo, type Command } from './command.js'

/**
 * The `vigil` command. Each subcommand is its own module, loaded on demand so that `vigil version
 * compare` does not pay for LMDB or the worker pool. One line per command.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  version: { summary: 'compare versions under a scheme (dpkg, rpm, semver, pep440, …)', load: async () => (await import('./commands/version.js')).versionCommand },
  scan: { summary: 'scan an image or SBOM and report its vulnerabilities', load: async () => (await import('./commands/scan.js')).scanCommand },
  sbom: { summary: 'write an image inventory as CycloneDX, SPDX or JSON', load: async () => (await import('./commands/sbom.js')).sbomCommand },
  db: { summary: 'import vulnerability feeds (OSV, Alpine, Debian, EPSS, KEV) and show their status', load: async () => (await import('./commands/db.js')).dbCommand },
  serve: { summary: 'run the daemon: NATS JetStream jobs, feed deltas, HTTP health/metrics/query API', load: async () => (await import('./commands/serve.js')).serveCommand },
  harbor: { summary: 'run the Harbor scanner adapter alone, against daemons over NATS', load: async () => (await import('./commands/harbor.js')).harborCommand },
  query: { summary: 'ask the fleet index: images with a package, images affected by a vulnerability, top risks', load: async () => (await import('./commands/query.js')).queryCommand },
}


function topUsage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  return [
    'vigil — container-image vulnerability scanner that keeps findings current as advisories change',
    '',
    'Usage: vigil <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Targets: oci:DIR[:TAG]  docker-archive:FILE  HOST/REPO:TAG  HOST/REPO@sha256:…  sbom:FILE (scan only)',
    'Exit codes: 0 ok, 1 policy failed (--fail-on), 2 usage or input error, 3 runtime error.',
    'Data dir: --data DIR, else $VIGIL_DATA, else ./.vigil',
    '',
    'Run `vigil <command> --help` for a command\'s options.',
  ].join('\n')
}

export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(topUsage() + '\n')
    return name === undefined ? EXIT.usage : EXIT.ok
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`vigil ${VIGIL_VERSION}\n`)
    return EXIT.ok
  }
  const entry = COMMANDS[name]
  if (!entry) {
    io.stderr.write(`vigil: unknown command "${name}"\n\n${topUsage()}\n`)
    return EXIT.usage
  }
  try {
    const command = await entry.load()
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(command.usage + '\n')
      return EXIT.ok
    }
    return await command.run(rest, io)
  } catch (err) {
    const rec = toErrorRecord(err)
    io.stderr.write(`vigil ${name}: error ${rec.code}: ${rec.message}\n`)
    return VigilError.is(err) ? err.exitCode : EXIT.runtime
  }
}
