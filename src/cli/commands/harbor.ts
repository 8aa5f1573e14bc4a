import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { resolveDataDir } from '../../config.js'
import { DEFAULT_NATS_URL } from '../../daemon/broker.js'
import { DEFAULTS, parseHostPort } from '../../daemon/config.js'
import { VigilError } from '../../errors.js'
import { parseSecretKey, SECRET_KEY_FILE } from '../../secrets.js'
import { EXIT, parseCommandArgs, type CliIo, type Command } from '../command.js'
import { logDestination, logFormat } from '../log-output.js'

const usage = `Usage: vigil harbor [options]

Run the Harbor scanner adapter (Pluggable Scanner API v1.2) alone, in front of vigil daemons
reached over NATS. \`vigil serve\` already includes it; this is for scaling the HTTP side apart.

Options:
      --nats URL          NATS server(s), comma-separated (default $NATS_URL, else ${DEFAULT_NATS_URL})
      --http HOST:PORT    where the API listens (default $VIGIL_HTTP, else ${DEFAULTS.http})
      --data DIR          read DIR/${SECRET_KEY_FILE} when VIGIL_SECRET_KEY is unset, and keep scan requests
                            accepted while NATS is down in DIR/harbor-outbox (default $VIGIL_DATA,
                            else $XDG_DATA_HOME/vigil or ~/.local/share/vigil)
      --api-token TOKEN   require this token as Bearer or X-ScannerAdapter-API-Key (default $VIGIL_API_TOKEN)
      --refresh-after N   seconds Harbor waits between polls of a running scan, 1-127 (default 3)
      --log-level LEVEL   fatal|error|warn|info|debug|trace|silent (default $VIGIL_LOG_LEVEL, else info)
      --log-format FORMAT json or text (default $VIGIL_LOG_FORMAT, else text on a terminal, json otherwise)

The adapter encrypts Harbor's registry credentials with the daemons' key: set VIGIL_SECRET_KEY
to the same value as on the daemons. Details: docs/harbor.md.`

const str = { type: 'string' } as const
const options = { nats: str, http: str, data: str, 'api-token': str, 'refresh-after': str, 'log-level': str, 'log-format': str } as const

/** The daemons' key; never a new one, which no daemon could decrypt with. */
function secretKey(dataDir: string, env: NodeJS.ProcessEnv): Buffer {
  if (env.VIGIL_SECRET_KEY) return parseSecretKey(env.VIGIL_SECRET_KEY)
  const path = join(dataDir, SECRET_KEY_FILE)
  if (!existsSync(path)) throw new VigilError('ERR_CONFIG', `no secret key: set VIGIL_SECRET_KEY to the daemons' key (or point --data at a data dir holding ${SECRET_KEY_FILE})`)
  return parseSecretKey(readFileSync(path, 'utf8'))
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, options, usage)
  if (positionals.length > 0) throw new VigilError('ERR_USAGE', `harbor takes no arguments\n\n${usage}`)
  const http = parseHostPort(values.http ?? io.env.VIGIL_HTTP ?? DEFAULTS.http)
  if (!http) throw new VigilError('ERR_CONFIG', '--http off leaves the adapter nothing to do')
  const refresh = values['refresh-after']
  if (refresh !== undefined && !/^(12[0-7]|1[01]\d|[1-9]\d?)$/.test(refresh)) throw new VigilError('ERR_CONFIG', `--refresh-after must be 1-127 (Harbor's limit), got "${refresh}"`)
  const dataDir = resolveDataDir(values.data, io.env)
  const key = secretKey(dataDir, io.env)
  const apiToken = values['api-token'] ?? (io.env.VIGIL_API_TOKEN || undefined)
  const { createLogger } = await import('../../daemon/logger.js')
  const { startHarborAdapter } = await import('../../http/harbor/standalone.js')
  const log = createLogger(values['log-level'] ?? io.env.VIGIL_LOG_LEVEL ?? 'info', logDestination(logFormat(values['log-format'], io.env, io.stderr), io.stderr, io.env))
  const adapter = await startHarborAdapter({
    natsUrl: values.nats ?? io.env.NATS_URL ?? DEFAULT_NATS_URL, host: http.host, port: http.port, secretKey: key, log, dataDir,
    ...(apiToken ? { apiToken } : {}), ...(refresh ? { refreshAfterSeconds: Number(refresh) } : {}),
  })
  log.info({ http: adapter.address }, 'Harbor adapter listening')
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      resolve()
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
  await adapter.close()
  return EXIT.ok
}

export const harborCommand: Command = { name: 'harbor', summary: 'run the Harbor scanner adapter alone, against daemons over NATS', usage, options, run }
export default harborCommand
