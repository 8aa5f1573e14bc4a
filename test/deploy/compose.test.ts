/**
 * deploy/compose: valid against the Compose Specification's JSON schema (the copy dclint ships),
 * and checked against the daemon's code and Harbor's installer: every variable set on Vigil is
 * one `vigil serve` reads, the args pass its config validation, the register service sets only
 * what register-scanner.mjs reads, and Vigil joins Harbor's network. No Docker needed.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { Ajv } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { describe, expect, test } from 'vitest'
import { serveCommand } from '../../src/cli/commands/serve.js'
import { parseDaemonConfig } from '../../src/daemon/config.js'
import { NATS_SERVER_BIN, noteNatsMissing } from '../helpers/nats.js'
import { ROOT } from '../helpers/shared.js'
import { dockerfile } from './dockerfile.js'
import { hasCommand, madeSecrets, probeStatus, serveFlags } from './probes.js'
import { DAEMON_ENTRY, envNamesIn, envReadFrom } from './sources.js'

const DIR = join(ROOT, 'deploy', 'compose')
const FILE = join(DIR, 'compose.yaml')

interface Service {
  image?: string
  build?: { context: string; dockerfile?: string }
  command?: string[]
  entrypoint?: string[]
  environment?: Record<string, string>
  volumes?: string[]
  networks?: string[]
  profiles?: string[]
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test: string[] }
}
interface ComposeFile {
  services: Record<string, Service>
  networks: Record<string, { external?: boolean; name?: string }>
  volumes: Record<string, unknown>
}

const compose = parseYaml(readFileSync(FILE, 'utf8')) as ComposeFile
noteNatsMissing()
const HAS_OPENSSL = hasCommand('openssl')
if (!HAS_OPENSSL) console.warn('[skip] compose interpolation checks: no openssl (deploy/make-secrets.sh uses it)')

/**
 * Compose's variable interpolation, the forms this file uses: ${NAME}, ${NAME:-default},
 * ${NAME-default}, ${NAME:?message}, ${NAME?message} (docs.docker.com "Interpolation").
 */
function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (_all, name: string, colon: string, op: string | undefined, arg: string) => {
    const v = vars[name]
    const unset = v === undefined || (colon === ':' && v === '')
    if (op === '?' && unset) throw new Error(`required variable ${name} is missing a value: ${arg}`)
    if (op === '-' && unset) return arg
    return v ?? ''
  })
}

function environment(service: Service, vars: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), vars)]))
}

/** Services that run the daemon: `vigil serve`. */
const daemons = Object.entries(compose.services).filter(([, s]) => s.command?.[0] === 'serve')

describe('deploy/compose: schema', () => {
  const schemaPath = join(dirname(createRequire(import.meta.url).resolve('dclint/package.json')), 'schemas', 'compose.schema.json')
  // The schema names draft-07 by an https URL Ajv does not know; the draft-07 rules themselves are Ajv's default.
  const validate = new Ajv({ strict: false, allErrors: true, validateSchema: false }).compile(JSON.parse(readFileSync(schemaPath, 'utf8')) as object)

  test('compose.yaml is valid against the Compose Specification schema', () => {
    expect(validate(compose), JSON.stringify(validate.errors)).toBe(true)
  })

  test('the schema is strict enough to catch a misspelt key', () => {
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> }
    broken.services.vigil!.enviroment = broken.services.vigil!.environment
    delete broken.services.vigil!.environment
    expect(validate(broken)).toBe(false)
    expect(validate.errors).toEqual([expect.objectContaining({ instancePath: '/services/vigil', params: { additionalProperty: 'enviroment' } })])
  })
})

describe('deploy/compose: Vigil against the daemon\'s code', () => {
  test('one service runs `vigil serve`, built from the repository\'s Dockerfile', () => {
    expect(daemons.map(([name]) => name)).toEqual(['vigil'])
    const build = daemons[0]![1].build!
    expect(existsSync(join(resolve(DIR, build.context), build.dockerfile ?? 'Dockerfile'))).toBe(true)
    expect(resolve(DIR, build.context)).toBe(ROOT)
  })

  test('every variable set on it is one `vigil serve` reads', () => {
    const reads = envReadFrom(DAEMON_ENTRY)
    for (const [name, service] of daemons) for (const key of Object.keys(service.environment ?? {})) expect([...reads], `${name}: ${key}`).toContain(key)
  })

  test.skipIf(!HAS_OPENSSL)('with the .env that deploy/make-secrets.sh writes, its args and environment pass the daemon\'s config validation', () => {
    const secrets = madeSecrets()
    for (const [, service] of daemons) {
      const { flags } = serveFlags(service.command!)
      for (const flag of Object.keys(flags)) expect(serveCommand.usage, `--${flag}`).toContain(`--${flag} `)
      const config = parseDaemonConfig(flags, environment(service, secrets))
      expect(config.apiToken).toBe(secrets.VIGIL_API_TOKEN)
      expect(config.http).toEqual({ host: '0.0.0.0', port: 8080 })
      // The broker is the compose service of that name, on a network both share.
      const broker = new URL(config.natsUrl!)
      const natsService = compose.services[broker.hostname]
      expect(natsService, broker.hostname).toBeDefined()
      expect(natsService!.networks!.some((n) => service.networks!.includes(n))).toBe(true)
      const natsConf = readFileSync(join(DIR, 'nats.conf'), 'utf8')
      expect(natsConf).toMatch(new RegExp(`^port: ${broker.port}$`, 'm'))
    }
  })

  test('without the secrets in .env, compose stops with the hint to run deploy/make-secrets.sh, instead of starting without a token', () => {
    for (const [, service] of daemons) {
      expect(() => environment(service, {})).toThrow(/VIGIL_API_TOKEN.*make-secrets\.sh/)
      expect(service.environment!.VIGIL_SECRET_KEY).toMatch(/^\$\{VIGIL_SECRET_KEY:\?/)
    }
    expect(readFileSync(join(DIR, '.gitignore'), 'utf8').split('\n')).toContain('.env')
  })

  test('the data volume is the image\'s data dir, and the root file system is read-only', () => {
    const { runtime } = dockerfile()
    for (const [, service] of daemons) {
      const mount = service.volumes!.map((v) => v.split(':')).find(([, target]) => target === runtime.volume)
      expect(mount, runtime.volume).toBeDefined()
      expect(Object.keys(compose.volumes)).toContain(mount![0])
      expect((service as { read_only?: boolean }).read_only).toBe(true)
    }
  })
})

describe('deploy/compose: beside Harbor', () => {
  test('Vigil joins Harbor\'s network (harbor_harbor unless HARBOR_NETWORK says otherwise); its NATS stays off it', () => {
    const harbor = Object.entries(compose.networks).find(([, n]) => n.external)
    expect(harbor).toBeDefined()
    expect(interpolate(harbor![1].name!, {})).toBe('harbor_harbor')
    expect(interpolate(harbor![1].name!, { HARBOR_NETWORK: 'registry_harbor' })).toBe('registry_harbor')
    expect(compose.services.vigil!.networks).toContain(harbor![0])
    expect(compose.services.nats!.networks).not.toContain(harbor![0])
  })

  test('the register service runs the mounted register-scanner.mjs, only on request, and sets only variables that script reads', () => {
    const register = compose.services.register!
    expect(register.profiles).toEqual(['register'])
    const script = register.entrypoint!.at(-1)!
    const mount = register.volumes!.map((v) => v.split(':')).find(([, target]) => target === script)
    expect(mount, script).toBeDefined()
    const source = readFileSync(resolve(DIR, mount![0]!), 'utf8')
    const reads = envNamesIn(source)
    for (const key of Object.keys(register.environment!)) expect([...reads], key).toContain(key)
    expect(register.image).toBe(compose.services.vigil!.image)
  })

  test('the scanner URL it registers is the Vigil service on the port it listens on, and Harbor reaches it without waiting on readiness', async () => {
    const env = environment(compose.services.register!, { VIGIL_API_TOKEN: 't' })
    const url = new URL(env.SCANNER_URL!)
    expect(compose.services[url.hostname]?.command?.[0]).toBe('serve')
    expect(url.port).toBe(environment(compose.services.vigil!, { VIGIL_API_TOKEN: 't', VIGIL_SECRET_KEY: 'k' }).VIGIL_HTTP!.split(':')[1])
    expect(env.HARBOR_URL).toBe('http://core:8080')
    expect(compose.services.register!.depends_on?.vigil?.condition).toBe('service_healthy')
    // service_healthy is the image's HEALTHCHECK, i.e. /healthz, which the real route answers from start.
    const probe = dockerfile().runtime.healthcheck!.cmd.join(' ')
    const path = /\/healthz\b/.exec(probe)?.[0]
    expect(path).toBe('/healthz')
    expect(await probeStatus(path!, false)).toBe(200)
  })

  test.skipIf(!NATS_SERVER_BIN)('nats-server accepts nats.conf, with JetStream on the mounted volume', () => {
    const conf = readFileSync(join(DIR, 'nats.conf'), 'utf8')
    const storeDir = /store_dir:\s*(\S+)/.exec(conf)![1]!
    expect(compose.services.nats!.volumes!.map((v) => v.split(':')[1])).toContain(storeDir)
    expect(compose.services.nats!.command).toEqual(['--config', compose.services.nats!.volumes!.find((v) => v.startsWith('./nats.conf:'))!.split(':')[1]])
    const dir = mkdtempSync(join(tmpdir(), 'vigil-compose-nats-'))
    try {
      writeFileSync(join(dir, 'nats.conf'), conf)
      execFileSync(NATS_SERVER_BIN!, ['-c', join(dir, 'nats.conf'), '-t'], { stdio: 'pipe' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
