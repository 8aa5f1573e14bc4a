/**
 * `kubectl kustomize deploy/kubernetes` as docs/deploy.md runs it (after deploy/make-secrets.sh),
 * and every rendered document checked again: the generated Secret under its hashed name, the
 * namespace and image applied. Skips with a message where kubectl is not installed; the schema
 * checks of kubernetes.test.ts do not need it.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { ROOT } from '../helpers/shared.js'
import { kubernetesErrors, parseDocuments, podTemplates, type KubeObject } from './kube.js'
import { hasCommand } from './probes.js'

const HAS_KUBECTL = hasCommand('kubectl') && hasCommand('openssl')
if (!HAS_KUBECTL) console.warn('[skip] kustomize render: kubectl (with its built-in kustomize) or openssl is not installed')

describe.skipIf(!HAS_KUBECTL)('kubectl kustomize deploy/kubernetes', () => {
  let dir: string
  let rendered: KubeObject[]

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-kustomize-'))
    cpSync(join(ROOT, 'deploy'), join(dir, 'deploy'), { recursive: true })
    execFileSync(join(dir, 'deploy', 'make-secrets.sh'), [join(dir, 'deploy', 'kubernetes', 'vigil-secrets.env')], { stdio: 'pipe' })
    rendered = parseDocuments(execFileSync('kubectl', ['kustomize', join(dir, 'deploy', 'kubernetes')], { encoding: 'utf8' }), 'kustomize output')
  })
  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }) })

  test('renders documents that are all valid against their Kubernetes schemas', async () => {
    expect(rendered.length).toBeGreaterThanOrEqual(10)
    // kustomize folds long base64 values of a Secret over lines; the API server's decoder (Go's
    // encoding/base64) skips line breaks, the schema's "byte" pattern does not.
    const unfolded = rendered.map((o) => o.kind !== 'Secret' ? o : { ...o, data: Object.fromEntries(Object.entries(o.data as Record<string, string>).map(([k, v]) => [k, v.replace(/\s+/g, '')])) })
    expect((await Promise.all(unfolded.map(kubernetesErrors))).flat()).toEqual([])
  })

  test('the pods read the generated Secret by its hashed name, and it holds the keys they read', () => {
    const secret = rendered.find((o) => o.kind === 'Secret')!
    expect(secret.metadata.name).toMatch(/^vigil-secrets-[a-z0-9]{10}$/)
    const refs = podTemplates(rendered).flatMap((t) => t.spec.containers.flatMap((c) => (c.env ?? []).flatMap((e) => e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef] : [])))
    expect(refs.length).toBeGreaterThanOrEqual(2)
    for (const ref of refs) {
      expect(ref.name).toBe(secret.metadata.name)
      expect(Object.keys(secret.data as Record<string, string>)).toContain(ref.key)
    }
  })

  test('every namespaced object lands in the vigil namespace, and Vigil runs the tagged image', () => {
    for (const o of rendered.filter((o) => o.kind !== 'Namespace')) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('vigil')
    const vigil = podTemplates(rendered).find((t) => t.owner.metadata.name === 'vigil')!
    expect(vigil.spec.containers[0]!.image).toBe('vigil:0.1.0')
  })

  test('without vigil-secrets.env the render fails instead of producing pods with no token', () => {
    rmSync(join(dir, 'deploy', 'kubernetes', 'vigil-secrets.env'))
    expect(() => execFileSync('kubectl', ['kustomize', join(dir, 'deploy', 'kubernetes')], { stdio: 'pipe' })).toThrow(/vigil-secrets\.env/)
  })
})
