import { readFileSync } from 'node:fs'

/** Vigil's own version, read once from package.json so that it is written in one place only. */
export const VIGIL_VERSION: string = (
  JSON.parse(readFileSync(new URL(import.meta.url.includes('/dist/') ? '../../package.json' : '../package.json', import.meta.url), 'utf8')) as { version: string }
).version
