import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

/** The image corpus built by ../shared/tools/corpus/build.sh. */
export const CORPUS = process.env.VIGIL_CORPUS ?? join(homedir(), '.cache', 'vigil-corpus')

export const SINGLE_PLATFORM_IMAGES = ['debian-minbase', 'debian-layered', 'debian-node-app', 'debian-go-bins', 'debian-java', 'distroless-style'] as const

export interface PackSummary {
  config: { digest: string; size: number }
  diff_ids: string[]
  layers: { diff_id: string; size: number; blob: { digest: string; size: number; mediaType: string } }[]
  platform: string
  oci: { manifest: { digest: string; size: number } }
}

export function hasImage(name: string): boolean {
  return existsSync(join(CORPUS, name, 'oci', 'index.json')) && existsSync(join(CORPUS, name, 'info.json'))
}

export function hasArchive(name: string): boolean {
  return existsSync(join(CORPUS, `${name}.docker.tar`)) && existsSync(join(CORPUS, name, 'pack.json'))
}

export function readPack(name: string): PackSummary {
  return JSON.parse(readFileSync(join(CORPUS, name, 'pack.json'), 'utf8')) as PackSummary
}

export function readInfo(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(CORPUS, name, 'info.json'), 'utf8')) as Record<string, unknown>
}

/** Printed when an image is absent, so a skip is never silent. */
export function noteCorpusMissing(names: readonly string[]): void {
  const missing = names.filter((n) => !hasImage(n))
  if (missing.length) console.warn(`[skip] corpus images missing in ${CORPUS}: ${missing.join(', ')} (build them with ../shared/tools/corpus/build.sh)`)
}
