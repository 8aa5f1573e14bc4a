import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HAS_REGISTRY_TOOLS, noteRegistryToolsMissing, pushImage, startRegistry, type RegistryServer } from '../helpers/registry.js'
import { CORPUS, hasImage, readPack } from '../image/corpus.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { scratchDir, vigilAsync } from './run.js'

/**
 * `vigil sbom` against docker-registry behind htpasswd, with the login kept where docker and
 * podman keep it: a config.json (`auths`), a credential helper on PATH (`credHelpers`,
 * `credsStore`), podman's REGISTRY_AUTH_FILE. Flags and environment still win over all of them.
 */
const READY = HAS_REGISTRY_TOOLS && hasImage('distroless-style')
noteRegistryToolsMissing()
if (HAS_REGISTRY_TOOLS && !READY) console.warn('[skip] registry-credentials.test.ts: corpus image distroless-style is needed (../shared/tools/corpus/build.sh)')

const USER = 'scanner'
const PASSWORD = 's3cret-pass'
const basic64 = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64')

describe.skipIf(!READY)('registry credentials from the standard places', () => {
  let registry: RegistryServer
  let scratch: { path: string; dispose(): Promise<void> }
  let target: string
  let manifestDigest: string
  let n = 0

  beforeAll(async () => {
    ensureBuilt()
    scratch = await scratchDir('vigil-creds-')
    registry = await startRegistry({ kind: 'htpasswd', users: { [USER]: PASSWORD } })
    await pushImage(`oci:${join(CORPUS, 'distroless-style', 'oci')}:latest`, registry, 'team/app:1', { creds: `${USER}:${PASSWORD}` })
    target = `${registry.host}/team/app:1`
    manifestDigest = readPack('distroless-style').oci.manifest.digest
  }, 120_000)
  afterAll(async () => {
    await registry?.stop()
    await scratch?.dispose()
  })

  /** A fresh HOME (so the user's own ~/.docker is never read) and data dir per run. */
  async function sbom(env: NodeJS.ProcessEnv, extra: string[] = []) {
    const home = join(scratch.path, `home-${++n}`)
    mkdirSync(home, { recursive: true })
    return vigilAsync(['sbom', target, '-f', 'json', '-q', '--data', join(home, 'data'), ...extra], { env: { HOME: home, ...env } })
  }
  function dockerConfig(name: string, doc: unknown): string {
    const dir = join(scratch.path, name)
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'config.json'), JSON.stringify(doc))
    return dir
  }
  /** A docker-credential-NAME script that logs the server URL it was asked for. */
  function helper(name: string, answer: { Username: string; Secret: string } | 'not-found'): { bin: string; log: string } {
    const bin = join(scratch.path, `bin-${name}`)
    const log = join(bin, 'asked.log')
    mkdirSync(bin, { recursive: true })
    const reply = answer === 'not-found' ? `echo "credentials not found in native keychain"; exit 1` : `printf '%s' '${JSON.stringify({ ServerURL: registry.host, ...answer })}'`
    writeFileSync(join(bin, `docker-credential-${name}`), `#!/bin/sh\n[ "$1" = get ] || exit 2\nread server\necho "$server" >> ${log}\n${reply}\n`)
    chmodSync(join(bin, `docker-credential-${name}`), 0o755)
    return { bin, log }
  }
  const digestOf = (stdout: string) => (JSON.parse(stdout) as { image: { digest: string } }).image.digest

  it('without any login the registry refuses (ERR_REGISTRY_AUTH, exit 2)', async () => {
    const r = await sbom({})
    expect(r.status, r.stderr).toBe(2)
    expect(r.stderr).toContain('ERR_REGISTRY_AUTH')
  })

  it('$DOCKER_CONFIG/config.json and ~/.docker/config.json: auths with base64 `auth`, or username + password', async () => {
    const viaEnv = dockerConfig('docker-env', { auths: { [`http://${registry.host}`]: { auth: basic64(USER, PASSWORD) } } })
    const r = await sbom({ DOCKER_CONFIG: viaEnv })
    expect(r.status, r.stderr).toBe(0)
    expect(digestOf(r.stdout)).toBe(manifestDigest)

    const home = join(scratch.path, 'home-docker')
    dockerConfig(join('home-docker', '.docker'), { auths: { [registry.host]: { username: USER, password: PASSWORD } } })
    const inHome = await vigilAsync(['sbom', target, '-f', 'json', '-q', '--data', join(home, 'data')], { env: { HOME: home } })
    expect(inHome.status, inHome.stderr).toBe(0)
    expect(digestOf(inHome.stdout)).toBe(manifestDigest)
  })

  it('credHelpers and credsStore: docker-credential-NAME get on PATH, asked with the server on stdin', async () => {
    const good = helper('vigiltest', { Username: USER, Secret: PASSWORD })
    const perHost = dockerConfig('docker-helpers', { credHelpers: { [registry.host]: 'vigiltest' }, auths: {} })
    const r = await sbom({ DOCKER_CONFIG: perHost, PATH: `${good.bin}:${process.env.PATH}` })
    expect(r.status, r.stderr).toBe(0)
    expect(digestOf(r.stdout)).toBe(manifestDigest)
    expect(readFileSync(good.log, 'utf8')).toBe(`${registry.host}\n`)

    // credsStore for every registry; the helper does not know this one, so the inline entry answers.
    const none = helper('emptystore', 'not-found')
    const store = dockerConfig('docker-store', { credsStore: 'emptystore', auths: { [registry.host]: { auth: basic64(USER, PASSWORD) } } })
    const fallback = await sbom({ DOCKER_CONFIG: store, PATH: `${none.bin}:${process.env.PATH}` })
    expect(fallback.status, fallback.stderr).toBe(0)
    expect(readFileSync(none.log, 'utf8')).toBe(`${registry.host}\n`)

    const storeOnly = dockerConfig('docker-store-only', { credsStore: 'vigiltest' })
    expect((await sbom({ DOCKER_CONFIG: storeOnly, PATH: `${good.bin}:${process.env.PATH}` })).status).toBe(0)
  })

  it('REGISTRY_AUTH_FILE (podman) is read before Docker\'s file', async () => {
    const podman = join(scratch.path, 'podman-auth.json')
    writeFileSync(podman, JSON.stringify({ auths: { [registry.host]: { auth: basic64(USER, PASSWORD) } } }))
    const wrongDocker = dockerConfig('docker-wrong', { auths: { [registry.host]: { auth: basic64(USER, 'wrong') } } })
    const r = await sbom({ REGISTRY_AUTH_FILE: podman, DOCKER_CONFIG: wrongDocker })
    expect(r.status, r.stderr).toBe(0)
    expect(digestOf(r.stdout)).toBe(manifestDigest)
  })

  it('flags and VIGIL_REGISTRY_* win over the files', async () => {
    const right = dockerConfig('docker-right', { auths: { [registry.host]: { auth: basic64(USER, PASSWORD) } } })
    const wrongFlags = await sbom({ DOCKER_CONFIG: right }, ['--username', USER, '--password', 'wrong'])
    expect(wrongFlags.status).toBe(2)
    expect(wrongFlags.stderr).toContain('ERR_REGISTRY_AUTH')
    const wrongEnv = await sbom({ DOCKER_CONFIG: right, VIGIL_REGISTRY_USERNAME: USER, VIGIL_REGISTRY_PASSWORD: 'wrong' })
    expect(wrongEnv.status).toBe(2)
    const wrongFile = dockerConfig('docker-wrong-2', { auths: { [registry.host]: { auth: basic64(USER, 'wrong') } } })
    const rightFlags = await sbom({ DOCKER_CONFIG: wrongFile }, ['--username', USER, '--password', PASSWORD])
    expect(rightFlags.status, rightFlags.stderr).toBe(0)
  })

  it('a helper that fails otherwise is ERR_REGISTRY_AUTH with what it said; a config.json that is not JSON is ERR_CONFIG', async () => {
    const bin = join(scratch.path, 'bin-broken')
    mkdirSync(bin, { recursive: true })
    writeFileSync(join(bin, 'docker-credential-broken'), '#!/bin/sh\necho "keychain locked" >&2\nexit 3\n')
    chmodSync(join(bin, 'docker-credential-broken'), 0o755)
    const r = await sbom({ DOCKER_CONFIG: dockerConfig('docker-broken', { credsStore: 'broken' }), PATH: `${bin}:${process.env.PATH}` })
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('error ERR_REGISTRY_AUTH: docker-credential-broken get failed for')
    expect(r.stderr).toContain('keychain locked')
    const dir = join(scratch.path, 'docker-garbage')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'config.json'), '{ not json')
    const garbage = await sbom({ DOCKER_CONFIG: dir })
    expect(garbage.status).toBe(2)
    expect(garbage.stderr).toContain('ERR_CONFIG')
  })
})
