import { resolve } from 'node:path'

/** Data dir: `--data`, else `$VIGIL_DATA`, else `./.vigil` (DESIGN.md). */
export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.VIGIL_DATA ?? '.vigil')
}

export function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v)
  }
  return value
}
