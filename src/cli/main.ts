import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { resolveDataDir } from '../config.js'
import { VigilError, toErrorRecord } from '../errors.js'
import { VIGIL_VERSION } from '../version.js'
import { EXIT, type CliIo, type Command } from './command.js'
import { configArgs, findConfigFile, loadConfigFile } from './config-file.js'

/**
 * The `vigil` command. Each subcommand is its own module, loaded on demand so that `vigil version
 * compare` does not pay for LMDB or the worker pool. One line per command.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  version: { summary: 'print Vigil\'s version; `version compare` compares versions under a scheme (dpkg, rpm, …)', load: async () => (await import('./commands/version.js')).versionCommand },
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
    '         dir:PATH (a source tree: lockfiles)  rootfs:PATH (an unpacked root filesystem)',
    'Exit codes: 0 ok, 1 policy failed (--fail-on), 2 usage or input error, 3 runtime error.',
    'Data dir: --data DIR, else $VIGIL_DATA, else $XDG_DATA_HOME/vigil, else ~/.local/share/vigil',
    'Defaults: --config FILE, else $VIGIL_CONFIG, else ./vigil.yaml, else ~/.config/vigil/config.yaml',
    '  (YAML: `data: DIR` and a section per command, e.g. `scan: {severity: HIGH}`; flags > env > file)',
    'Version: vigil --version (or vigil version)',
    '',
    'Run `vigil <command> --help` for a command\'s options.',
  ].join('\n')
}

/** The last `--data DIR` / `--data=DIR`, as parseArgs will read it (the last one wins). */
function dataFlag(argv: string[]): string | undefined {
  let found: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') break
    if (arg === '--data') found = argv[i + 1]
    else if (arg.startsWith('--data=')) found = arg.slice('--data='.length)
  }
  return found
}

/** `--config FILE` is taken by every command: main reads it, the command never sees it. */
function takeConfigFlag(argv: string[]): { configFlag: string | undefined; args: string[] } {
  const args: string[] = []
  let configFlag: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') {
      args.push(...argv.slice(i))
      break
    }
    if (arg === '--config') {
      configFlag = argv[++i]
      if (configFlag === undefined) throw new VigilError('ERR_USAGE', '--config needs a file')
    } else if (arg.startsWith('--config=')) configFlag = arg.slice('--config='.length)
    else args.push(arg)
  }
  return { configFlag, args }
}

/**
 * A reader that stops early (`vigil scan … | head -1`) closes the pipe: what it did not read is
 * not wanted, so EPIPE ends the output quietly instead of as an uncaught stack trace. Any other
 * write error is reported once and makes the exit code a runtime error.
 */
function quietOnClosedPipe(stream: CliIo['stdout'], io: CliIo, failed: () => void): () => void {
  let reported = false
  const onError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED' || reported) return
    reported = true
    failed()
    if (stream !== io.stderr) io.stderr.write(`vigil: cannot write output: ${err.message}\n`)
  }
  // Callers embedding main() may hand in a bare { write } object: nothing to listen to there.
  if (typeof stream.on !== 'function') return () => undefined
  stream.on('error', onError)
  return () => stream.off('error', onError)
}

export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }): Promise<number> {
  let writeFailed = false
  const unguard = [io.stdout, io.stderr].map((s) => quietOnClosedPipe(s, io, () => (writeFailed = true)))
  try {
    const code = await dispatch(argv, io)
    return writeFailed && code === EXIT.ok ? EXIT.runtime : code
  } finally {
    // Pipe errors can still arrive after the last write; the guards stay for the process's life
    // when these are the process's own streams.
    if (io.stdout !== process.stdout) for (const off of unguard) off()
  }
}

async function dispatch(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(topUsage() + '\n')
    return name === undefined ? EXIT.usage : EXIT.ok
  }
  if (name === '--version' || name === '-V' || name === '-v') {
    io.stdout.write(`vigil ${VIGIL_VERSION}\n`)
    return EXIT.ok
  }
  const entry = COMMANDS[name]
  if (!entry) {
    io.stderr.write(`vigil: unknown command "${name}"\n\n${topUsage()}\n`)
    return EXIT.usage
  }
  let dataDir: string | undefined
  let dataDirIsNew = false
  let fromFile: { path: string; args: string[] } | undefined
  let code: number
  try {
    const command = await entry.load()
    const { configFlag, args } = takeConfigFlag(rest)
    if (args.includes('--help') || args.includes('-h')) {
      io.stdout.write(command.usage + '\n')
      return EXIT.ok
    }
    // `version` reads no data and no defaults (a broken file must not break it). A command that
    // exports no option list still takes the file's `data`: every other command reads --data.
    const fileOptions = name === 'version' ? undefined : (command.options ?? { data: { type: 'string' } })
    const configPath = fileOptions ? findConfigFile(configFlag, io.env) : undefined
    const config = configPath ? loadConfigFile(configPath, Object.keys(COMMANDS), name, command.options) : undefined
    const defaults = configArgs(config, name, fileOptions, args, io.env)
    if (config && defaults.length > 0) fromFile = { path: config.path, args: defaults.map((a) => a.replace(/^(--(?:password|api-token)=).*/, '$1[redacted]')) }
    const argv = [...defaults, ...args]
    // A command that fails (exit 2 or 3) on a data dir it created itself leaves none behind.
    if (name !== 'version') {
      dataDir = resolveDataDir(dataFlag(argv), io.env)
      dataDirIsNew = !existsSync(dataDir)
    }
    code = await command.run(argv, io)
  } catch (err) {
    const rec = toErrorRecord(err)
    // A bad value may have come from the defaults file rather than the command line: say which.
    const origin = fromFile && (rec.code === 'ERR_USAGE' || rec.code === 'ERR_CONFIG') ? ` (defaults from ${fromFile.path}: ${fromFile.args.join(' ')})` : ''
    io.stderr.write(`vigil ${name}: error ${rec.code}: ${rec.message}${origin}\n`)
    code = VigilError.is(err) ? err.exitCode : EXIT.runtime
  }
  if (code >= EXIT.usage && dataDir !== undefined && dataDirIsNew && existsSync(dataDir)) await rm(dataDir, { recursive: true, force: true })
  return code
}
