import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { copyFile, mkdir, readFile, rename } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { SHARED } from '../helpers/shared.js'

/** Where tools/corpus/build.sh puts the images ($VIGIL_CORPUS or ~/.cache/vigil-corpus). */
export const CORPUS = process.env.VIGIL_CORPUS ?? join(homedir(), '.cache', 'vigil-corpus')
export const PEER_TRIVY = join(SHARED, 'tools', 'peer-trivy.sh')
export const HAS_TRIVY = existsSync(PEER_TRIVY)

export interface CorpusForm {
  image: string
  form: 'oci' | 'docker-archive'
  /** What `vigil sbom` takes. */
  target: string
  /** What `trivy image --input` takes. */
  input: string
  platform?: string
}

/** Every built image in each form it exists in; the multi-arch index also once per platform. */
export function corpusForms(): CorpusForm[] {
  if (!existsSync(CORPUS)) return []
  const out: CorpusForm[] = []
  for (const image of readdirSync(CORPUS).sort()) {
    const oci = join(CORPUS, image, 'oci')
    if (!existsSync(join(oci, 'index.json'))) continue
    out.push({ image, form: 'oci', target: `oci:${oci}`, input: oci })
    if (image === 'distroless-multiarch') out.push({ image, form: 'oci', target: `oci:${oci}`, input: oci, platform: 'linux/arm64' })
    const archive = join(CORPUS, `${image}.docker.tar`)
    if (existsSync(archive)) out.push({ image, form: 'docker-archive', target: `docker-archive:${archive}`, input: archive })
  }
  return out
}

export function formName(f: CorpusForm): string {
  return `${f.image} (${f.form}${f.platform ? ` ${f.platform}` : ''})`
}

const run = promisify(execFile)

/**
 * Trivy's output depends only on the image's bytes, so it is kept across test files and runs,
 * keyed by the image's content: the OCI layout's index.json, or the archive's size and mtime
 * (the corpus rewrites both whenever it rebuilds an image).
 */
const TRIVY_CACHE = join(process.env.VIGIL_TEST_CACHE ?? join(homedir(), '.cache', 'vigil-test'), 'trivy')

function contentKey(form: CorpusForm): string {
  const st = statSync(form.input)
  const basis = st.isDirectory() ? readFileSync(join(form.input, 'index.json')) : `${st.size}:${st.mtimeMs}`
  return createHash('sha256').update(basis).update(form.platform ?? '').digest('hex').slice(0, 24)
}

/** Trivy's CycloneDX for one form, written to `outFile` (and cached by content, see above). */
export async function trivyCycloneDx(form: CorpusForm, outFile: string): Promise<{ components?: Array<{ purl?: string; type?: string }> }> {
  const cached = join(TRIVY_CACHE, `${form.image}-${form.form}-${contentKey(form)}.json`)
  if (!existsSync(outFile) && existsSync(cached)) await copyFile(cached, outFile)
  if (!existsSync(outFile)) {
    const args = ['image', '--input', form.input, '--format', 'cyclonedx', '-o', outFile, ...(form.platform ? ['--platform', form.platform] : [])]
    await run(PEER_TRIVY, args, { maxBuffer: 64 * 1024 * 1024, timeout: 300_000 })
    await mkdir(TRIVY_CACHE, { recursive: true })
    await copyFile(outFile, `${cached}.tmp`)
    await rename(`${cached}.tmp`, cached)
  }
  return JSON.parse(await readFile(outFile, 'utf8')) as { components?: Array<{ purl?: string; type?: string }> }
}

export const OS_PURL = /^pkg:(deb|apk|rpm)\//
