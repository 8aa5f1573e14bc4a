import { DEFAULTS, parseDaemonConfig } from '../../daemon/config.js'
import { VigilError } from '../../errors.js'
import { EXIT, parseCommandArgs, type CliIo, type Command } from '../command.js'
import { logDestination, logFormat } from '../log-output.js'

const usage = `Usage: vigil serve [options]

Run the daemon: pull scan and re-assess jobs from NATS JetStream, keep every stored image's
findings current as feed deltas arrive, and serve health, metrics and the query API over HTTP.

Options:
      --nats URL            NATS server(s), comma-separated (default $NATS_URL; else
                            nats://127.0.0.1:4222 when it answers, else an embedded
                            nats-server -js with its store under DATA/nats)
      --http HOST:PORT      HTTP address, or "off" (default $VIGIL_HTTP, else ${DEFAULTS.http})
      --data DIR            data dir (default $VIGIL_DATA,
                            else $XDG_DATA_HOME/vigil or ~/.local/share/vigil)
      --workers N           layer worker threads (default: one per core)
      --concurrency N       jobs in flight at once (default: 2 x workers)
      --replica-id ID       this replica's name for its feed consumer
                            (default $VIGIL_REPLICA_ID, else host + data dir hash)
      --max-deliveries N    deliveries before a job is dead-lettered (default ${DEFAULTS.maxDeliveries})
      --max-message-bytes N largest job or feed message accepted (default ${DEFAULTS.maxMessageBytes})
      --ack-wait-ms N       broker redelivery timer; heartbeats keep long jobs alive (default ${DEFAULTS.ackWaitMs})
      --job-timeout-ms N    one job's time limit, then ERR_TIMEOUT (retried) (default ${DEFAULTS.jobTimeoutMs})
      --grace-ms N          on SIGTERM/SIGINT, time in-flight jobs get to finish (default ${DEFAULTS.graceMs})
      --retry-base-ms N     first retry delay; doubles per delivery (default ${DEFAULTS.retryBaseMs})
      --retry-max-ms N      longest retry delay (default ${DEFAULTS.retryMaxMs})
      --log-level LEVEL     fatal|error|warn|info|debug|trace|silent (default $VIGIL_LOG_LEVEL, else info)
      --replicas N          copies of every stream and KV bucket, 1-5 (default $VIGIL_REPLICAS, else 3
                            when the NATS server reports a cluster of 3 or more servers, else 1)
      --reconcile-ms N      how often indexed images missing from VIGIL_INVENTORY are republished;
                            0 = never (default $VIGIL_RECONCILE_MS, else ${DEFAULTS.reconcileMs})
      --target-roots DIRS   comma-separated directories that local targets in jobs (oci:,
                            docker-archive:) may lie below (default $VIGIL_TARGET_ROOTS, else
                            none: jobs may name registry images only)
      --registry-allow LIST only these registries (host, host:port, *.domain, IP, CIDR; default
                            $VIGIL_REGISTRY_ALLOW, else any but link-local / cloud metadata)
      --registry-deny LIST  registries jobs may never name (default $VIGIL_REGISTRY_DENY)
      --log-format FORMAT   json (pino lines) or text (readable lines) (default $VIGIL_LOG_FORMAT,
                            else text on a terminal, json otherwise)

Environment: NATS_URL, VIGIL_DATA, VIGIL_HTTP, VIGIL_REPLICA_ID, VIGIL_API_TOKEN (bearer token
for every HTTP route but /healthz and /readyz), VIGIL_SECRET_KEY (32 bytes, base64 or hex; the
key that decrypts registry credentials in jobs: every replica needs the same one),
VIGIL_LOG_LEVEL, VIGIL_NATS_SERVER (the nats-server binary for the embedded default),
VIGIL_NATS_PROBE_URL (where a broker is looked for first, default nats://127.0.0.1:4222).
Details: docs/configuration.md, messages: docs/messages.md.`

const str = { type: 'string' } as const
const options = {
  nats: str, http: str, data: str, workers: str, concurrency: str, 'replica-id': str, 'max-deliveries': str, 'max-message-bytes': str,
  'ack-wait-ms': str, 'job-timeout-ms': str, 'grace-ms': str, 'retry-base-ms': str, 'retry-max-ms': str, 'log-level': str,
  replicas: str, 'reconcile-ms': str, 'target-roots': str, 'registry-allow': str, 'registry-deny': str, 'log-format': str,
} as const

async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, options, usage)
  if (positionals.length > 0) throw new VigilError('ERR_USAGE', `serve takes no arguments\n\n${usage}`)
  const { help: _help, 'log-format': logFormatFlag, ...flags } = values
  const config = parseDaemonConfig(flags, io.env)
  const format = logFormat(logFormatFlag, io.env, io.stderr)
  // Loaded after the config is valid: a usage error must not pay for NATS, LMDB and the pool.
  const { createLogger } = await import('../../daemon/logger.js')
  const { startDaemon } = await import('../../daemon/daemon.js')
  const log = createLogger(config.logLevel, logDestination(format, io.stderr, io.env))
  // Listened for from the start: a supervisor's SIGTERM during a slow start must still end in
  // an orderly stop (an embedded nats-server is stopped with us, not orphaned).
  let stopRequested: () => void = () => undefined
  const stopSignal = new Promise<void>((resolve) => (stopRequested = resolve))
  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'signal received')
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    stopRequested()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  let daemon
  try {
    daemon = await startDaemon(config, log)
  } catch (err) {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    throw err
  }
  await stopSignal
  await daemon.stop()
  // Everything is closed; should a library still hold a handle, it must not keep the process up.
  setTimeout(() => process.exit(EXIT.ok), 2_000).unref()
  return EXIT.ok
}

export const serveCommand: Command = { name: 'serve', summary: 'run the daemon: NATS JetStream jobs, feed deltas, HTTP health/metrics/query API', usage, options, run }
export default serveCommand
