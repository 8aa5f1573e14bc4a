#!/usr/bin/env node
// Registers Vigil in Harbor as a scanner (Interrogation Services → Scanners), or updates the
// registration of the same name, through Harbor's API v2.0 — what the portal's "New scanner"
// form does. Run by `docker compose run --rm register` (deploy/compose/compose.yaml) on Harbor's
// network, so it talks to Harbor's core directly; docs/deploy.md and docs/harbor.md show the
// same steps by hand. Exit codes: 0 registered, 2 a setting is missing, 3 Harbor refused.

const env = process.env
const harborUrl = (env.HARBOR_URL ?? 'http://core:8080').replace(/\/+$/, '')
const username = env.HARBOR_USERNAME || 'admin'
const password = env.HARBOR_PASSWORD ?? ''
const token = env.VIGIL_API_TOKEN ?? ''
const registration = {
  name: env.SCANNER_NAME || 'Vigil',
  description: 'Vigil: scans once on push, keeps every report current as advisories change',
  url: env.SCANNER_URL || 'http://vigil:8080',
  auth: 'Bearer',
  access_credential: token,
  // Harbor then hands Vigil its internal registry address (http://core:8080 under Harbor's
  // installer), reachable on Harbor's network without Harbor's external TLS certificate. Off
  // where Vigil cannot resolve that name (another Kubernetes namespace): Harbor then sends its
  // external URL.
  use_internal_addr: (env.SCANNER_INTERNAL_ADDR ?? 'true') !== 'false',
  disabled: false,
}
const makeDefault = (env.SCANNER_DEFAULT ?? 'true') !== 'false'
// Harbor's core answers within a minute or two of `docker compose up`; wait that long for it.
const waitTries = Number(env.HARBOR_WAIT_TRIES ?? 60)
const waitMs = Number(env.HARBOR_WAIT_MS ?? 3000)

class HarborError extends Error {}

function fail(code, message) {
  process.stderr.write(`register-scanner: ${message}\n`)
  process.exit(code)
}

const authorization = 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64')

async function harbor(method, path, body) {
  let res
  try {
    res = await fetch(harborUrl + '/api/v2.0' + path, {
      method,
      headers: { authorization, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000),
    })
  } catch (err) {
    throw new HarborError(`${method} ${path}: ${err.cause?.message ?? err.message}`)
  }
  const text = await res.text()
  if (!res.ok) {
    // Harbor's errors are {"errors":[{"code","message"}]}; the registration's credential is never echoed.
    let detail = text
    try { detail = JSON.parse(text).errors.map((e) => `${e.code}: ${e.message}`).join('; ') } catch { /* not Harbor's error shape */ }
    throw new HarborError(`${method} ${path} answered ${res.status}${detail ? `: ${detail}` : ''}`)
  }
  return { res, json: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined }
}

async function waitForHarbor() {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(harborUrl + '/api/v2.0/ping', { signal: AbortSignal.timeout(5000) })
      if (res.ok) return
      if (attempt >= waitTries) throw new HarborError(`${harborUrl}/api/v2.0/ping answered ${res.status}`)
    } catch (err) {
      if (err instanceof HarborError) throw err
      if (attempt >= waitTries) throw new HarborError(`Harbor does not answer at ${harborUrl} (${err.cause?.message ?? err.message}); is this container on Harbor's network?`)
    }
    if (attempt === 1) process.stdout.write(`waiting for Harbor at ${harborUrl} …\n`)
    await new Promise((resolve) => setTimeout(resolve, waitMs))
  }
}

async function main() {
  if (!password) fail(2, 'HARBOR_PASSWORD is not set (the password of HARBOR_USERNAME, an admin of Harbor)')
  if (!token) fail(2, 'VIGIL_API_TOKEN is not set (deploy/make-secrets.sh writes it)')
  await waitForHarbor()
  // Harbor's own reachability check: it fetches Vigil's /api/v1/metadata with the token.
  await harbor('POST', '/scanners/ping', { name: registration.name, url: registration.url, auth: registration.auth, access_credential: registration.access_credential })
  const existing = (await harbor('GET', '/scanners?page_size=100')).json ?? []
  const same = existing.find((s) => s.name === registration.name)
  let id
  if (same) {
    id = same.uuid
    await harbor('PUT', `/scanners/${id}`, registration)
    process.stdout.write(`updated scanner "${registration.name}" (${id}) → ${registration.url}\n`)
  } else {
    const { res } = await harbor('POST', '/scanners', registration)
    id = res.headers.get('location')?.split('/').pop()
    if (!id) throw new HarborError('POST /scanners answered without a Location header')
    process.stdout.write(`registered scanner "${registration.name}" (${id}) → ${registration.url}\n`)
  }
  if (makeDefault) {
    await harbor('PATCH', `/scanners/${id}`, { is_default: true })
    process.stdout.write(`"${registration.name}" is Harbor's default scanner\n`)
  }
}

main().catch((err) => fail(err instanceof HarborError ? 3 : 1, err.message))
