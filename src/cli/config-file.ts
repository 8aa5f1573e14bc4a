import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { deepFreeze } from '../config.js'
import { VigilError } from '../errors.js'
import type { Options } from './command.js'

/**
 * Defaults from a YAML file, for flags one would otherwise repeat on every run. Precedence is
 * flags > environment > file: a file value is used only when the command line does not give the
 * option and its environment variable (ENV_OF) is unset. Read and checked once, before the
 * command runs, and frozen.
 *
 *   data: /srv/vigil        # every command's --data
 *   scan:                   # `vigil scan` options by their long names
 *     severity: [CRITICAL, HIGH]
 *     fail-on: HIGH
 */
export type ConfigValue = string | boolean | string[]
export interface ConfigFile {
  path: string
  /** Keys valid for every command that takes them. */
  global: Readonly<Record<string, ConfigValue>>
  /** Per command name. */
  sections: Readonly<Record<string, Readonly<Record<string, ConfigValue>>>>
}

const GLOBAL_KEYS = new Set(['data'])

/** The environment variable each option also reads; set, it outranks the file. */
const ENV_OF: Record<string, string> = {
  data: 'VIGIL_DATA',
  nats: 'NATS_URL',
  http: 'VIGIL_HTTP',
  'replica-id': 'VIGIL_REPLICA_ID',
  'log-level': 'VIGIL_LOG_LEVEL',
  'api-token': 'VIGIL_API_TOKEN',
  username: 'VIGIL_REGISTRY_USERNAME',
  password: 'VIGIL_REGISTRY_PASSWORD',
}

/** Options that make no sense as a standing default. */
const NOT_IN_FILE = new Set(['help', 'config'])

/**
 * `--config FILE`, else `$VIGIL_CONFIG`, else `./vigil.yaml`, else `$XDG_CONFIG_HOME/vigil/config.yaml`
 * (`~/.config/vigil/config.yaml`); the first that exists. A file named explicitly must exist.
 */
export function findConfigFile(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const named = flag ?? (env.VIGIL_CONFIG || undefined)
  if (named !== undefined) {
    if (!existsSync(named)) throw new VigilError('ERR_CONFIG', `config file ${named} does not exist`)
    return resolve(named)
  }
  const xdg = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config')
  return [resolve('vigil.yaml'), join(xdg, 'vigil', 'config.yaml')].find((p) => existsSync(p))
}

/**
 * Reads and checks the file for one run of `command`: the global keys and that command's section
 * in full (names and types; the command checks the values as it checks flags). Other commands'
 * sections are checked when those commands run, so that this one need not load their code.
 */
export function loadConfigFile(path: string, commandNames: readonly string[], command: string, options: Options | undefined): Readonly<ConfigFile> {
  let doc: unknown
  try {
    doc = parseYaml(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new VigilError('ERR_CONFIG', `config file ${path}: ${(err as Error).message}`, { cause: err })
  }
  if (doc === null || doc === undefined) return deepFreeze({ path, global: {}, sections: {} })
  if (!isRecord(doc)) throw new VigilError('ERR_CONFIG', `config file ${path}: the top level must be a mapping (data: …, scan: {…})`)
  const global: Record<string, ConfigValue> = {}
  const sections: Record<string, Record<string, ConfigValue>> = {}
  for (const [key, value] of Object.entries(doc)) {
    if (GLOBAL_KEYS.has(key)) {
      global[key] = checkValue(path, key, value, { type: 'string' })
    } else if (commandNames.includes(key)) {
      if (!isRecord(value)) throw new VigilError('ERR_CONFIG', `config file ${path}: ${key} must be a mapping of ${key} options`)
      if (key !== command) continue
      if (!options) throw new VigilError('ERR_CONFIG', `config file ${path}: \`vigil ${key}\` takes no settings from the file`)
      sections[key] = {}
      for (const [name, v] of Object.entries(value)) {
        const spec = options[name]
        if (!spec || NOT_IN_FILE.has(name)) {
          const known = Object.keys(options).filter((o) => !NOT_IN_FILE.has(o)).sort().join(', ')
          throw new VigilError('ERR_CONFIG', `config file ${path}: ${key}.${name} is not an option of vigil ${key} (options: ${known})`)
        }
        sections[key][name] = checkValue(path, `${key}.${name}`, v, spec)
      }
    } else {
      throw new VigilError('ERR_CONFIG', `config file ${path}: unknown key "${key}" (top-level keys: ${[...GLOBAL_KEYS, ...commandNames].join(', ')})`)
    }
  }
  return deepFreeze({ path, global, sections })
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function checkValue(path: string, key: string, value: unknown, spec: Options[string]): ConfigValue {
  const bad = (want: string) => new VigilError('ERR_CONFIG', `config file ${path}: ${key} must be ${want}, got ${JSON.stringify(value)}`)
  if (spec.type === 'boolean') {
    if (typeof value !== 'boolean') throw bad('true or false')
    return value
  }
  const scalar = (v: unknown) => (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) ? String(v) : undefined)
  if (Array.isArray(value)) {
    const items = value.map(scalar)
    if (items.some((i) => i === undefined)) throw bad('a list of strings or numbers')
    return items as string[]
  }
  const one = scalar(value)
  if (one === undefined) throw bad(spec.multiple ? 'a string or a list of strings' : 'a string or a number')
  return one
}

/**
 * The file's values for one command as flags, to go before the user's arguments. An option the
 * user gave (long or short spelling) or whose environment variable is set is left out.
 */
export function configArgs(config: Readonly<ConfigFile> | undefined, command: string, options: Options | undefined, argv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  if (!config || !options) return []
  const merged = { ...pick(config.global, options), ...(config.sections[command] ?? {}) }
  const out: string[] = []
  for (const [name, value] of Object.entries(merged)) {
    const spec = options[name]!
    if (given(argv, name, spec.short) || (ENV_OF[name] !== undefined && env[ENV_OF[name]!])) continue
    if (spec.type === 'boolean') {
      if (value === true) out.push(`--${name}`)
    } else if (Array.isArray(value)) {
      if (spec.multiple) for (const v of value) out.push(`--${name}=${v}`)
      else out.push(`--${name}=${value.join(',')}`)
    } else {
      out.push(`--${name}=${String(value)}`)
    }
  }
  return out
}

function pick(values: Readonly<Record<string, ConfigValue>>, options: Options): Record<string, ConfigValue> {
  return Object.fromEntries(Object.entries(values).filter(([k]) => options[k] !== undefined))
}

function given(argv: readonly string[], name: string, short: string | undefined): boolean {
  for (const arg of argv) {
    if (arg === '--') return false
    if (arg === `--${name}` || arg.startsWith(`--${name}=`)) return true
    if (short && /^-[A-Za-z]+$/.test(arg) && arg.includes(short)) return true
  }
  return false
}
