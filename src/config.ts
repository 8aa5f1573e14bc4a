import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'

/**
 * Data dir: `--data`, else `$VIGIL_DATA`, else the user's data dir by the XDG base directory spec
 * (`$XDG_DATA_HOME/vigil`, else `~/.local/share/vigil`): one store per user wherever a command
 * is run, not a `.vigil` in every directory it was run from.
 */
export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const given = flag ?? (env.VIGIL_DATA || undefined)
  return given !== undefined ? resolve(given) : defaultDataDir(env)
}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  // The spec: a relative XDG_DATA_HOME is invalid and ignored.
  const xdg = env.XDG_DATA_HOME
  if (xdg && isAbsolute(xdg)) return join(xdg, 'vigil')
  return join(env.HOME || homedir(), '.local', 'share', 'vigil')
}

export function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v)
  }
  return value
}
