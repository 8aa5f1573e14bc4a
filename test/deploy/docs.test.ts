/**
 * docs/deploy.md and docs/harbor.md name files, objects, services, commands and variables that a
 * reader types in; each must be one the repository really has, so a rename elsewhere fails here
 * instead of leaving a step that cannot be followed.
 */
import { existsSync, readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { describe, expect, test } from 'vitest'
import { dbCommand } from '../../src/cli/commands/db.js'
import { STREAMS } from '../../src/daemon/subjects.js'
import { ROOT } from '../helpers/shared.js'
import { dockerfile } from './dockerfile.js'
import { readDocuments, type KubeObject } from './kube.js'
import { DAEMON_ENTRY, envNamesIn, envReadFrom } from './sources.js'

const deployDoc = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8')
const harborDoc = readFileSync(join(ROOT, 'docs', 'harbor.md'), 'utf8')
const K8S = join(ROOT, 'deploy', 'kubernetes')
const kustomization = parseYaml(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as { namespace: string; resources: string[] }
const objects: KubeObject[] = kustomization.resources.flatMap((f) => readDocuments(join(K8S, f)))
const composeText = readFileSync(join(ROOT, 'deploy', 'compose', 'compose.yaml'), 'utf8')
const compose = parseYaml(composeText) as { services: Record<string, unknown> }

describe('docs/deploy.md and docs/harbor.md name what exists', () => {
  test('every repository path they name exists', () => {
    const paths = [...`${deployDoc}\n${harborDoc}`.matchAll(/`((?:deploy|docs|src)\/[A-Za-z0-9_./-]+)`/g)].map((m) => m[1]!.replace(/[.]$/, ''))
    expect(paths.length).toBeGreaterThan(3)
    // Files a step tells the reader to create must be ones the folder's .gitignore keeps out.
    const ignored = (path: string) => {
      const gitignore = join(ROOT, dirname(path), '.gitignore')
      return existsSync(gitignore) && readFileSync(gitignore, 'utf8').split('\n').includes(basename(path))
    }
    for (const path of paths) expect(existsSync(join(ROOT, path)) || ignored(path), path).toBe(true)
    for (const [, file, anchor] of `${deployDoc}\n${harborDoc}`.matchAll(/\]\(([a-z-]+\.md)(?:#([a-z0-9-]+))?\)/g)) {
      expect(existsSync(join(ROOT, 'docs', file!)), file).toBe(true)
      if (!anchor) continue
      // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
      const headings = [...readFileSync(join(ROOT, 'docs', file!), 'utf8').matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-'))
      expect(headings, `${file}#${anchor}`).toContain(anchor)
    }
  })

  test('the file table of §3 lists exactly the kustomization and its resources', () => {
    const listed = [...deployDoc.matchAll(/^\| `([a-z-]+\.yaml)` \|/gm)].map((m) => m[1]!)
    expect(listed.sort()).toEqual([...kustomization.resources.filter((r) => r !== 'namespace.yaml'), 'kustomization.yaml'].sort())
  })

  test('the kubectl steps name the namespace and objects the manifests define', () => {
    for (const m of deployDoc.matchAll(/kubectl -n ([a-z0-9-]+)/g)) expect(m[1]).toBe(kustomization.namespace)
    const kinds: Record<string, string> = { statefulset: 'StatefulSet', job: 'Job', svc: 'Service' }
    const refs = [...deployDoc.matchAll(/\b(statefulset|job|svc)\/([a-z0-9-]+)/g)]
    expect(refs.length).toBeGreaterThanOrEqual(5)
    for (const [, kind, name] of refs) expect(objects.some((o) => o.kind === kinds[kind!] && o.metadata.name === name), `${kind}/${name}`).toBe(true)
    // PVC names a StatefulSet gives its claims: <template>-<set>-<ordinal>.
    const claims = objects.filter((o) => o.kind === 'StatefulSet').flatMap((o) => ((o.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? []).map((c) => `${c.metadata.name}-${o.metadata.name}-`))
    for (const m of deployDoc.matchAll(/`((?:data|jetstream)-[a-z]+-)[0-9N]`/g)) expect(claims, m[1]).toContain(m[1])
    // Pods and containers exec'd into exist (nats-0 is the first pod of the nats StatefulSet).
    for (const m of deployDoc.matchAll(/exec ([a-z]+)-0 /g)) expect(objects.some((o) => o.kind === 'StatefulSet' && o.metadata.name === m[1])).toBe(true)
  })

  test('the compose steps name its services, and the CLI inside the image is where the Dockerfile puts it', () => {
    for (const m of deployDoc.matchAll(/docker compose (?:exec|run --rm|stop|logs -f) ([a-z]+)/g)) expect(Object.keys(compose.services), m[1]).toContain(m[1])
    const cli = dockerfile().runtime.entrypoint.at(-1)!
    const mentioned = [...deployDoc.matchAll(/node (\/opt\/\S+\.js) db (\w+)/g)]
    expect(mentioned.length).toBeGreaterThanOrEqual(3)
    for (const [, path, sub] of mentioned) {
      expect(path).toBe(cli)
      expect(dbCommand.usage).toContain(`vigil db ${sub}`)
    }
  })

  test('every variable they name is one the daemon, the compose file or register-scanner.mjs reads', () => {
    const known = new Set([
      ...envReadFrom(DAEMON_ENTRY),
      // Stream names look alike (VIGIL_INVENTORY) and are named as what they are.
      ...Object.values(STREAMS),
      ...[...composeText.matchAll(/\$\{([A-Z_]+)/g)].map((m) => m[1]!),
      ...envNamesIn(readFileSync(join(ROOT, 'deploy', 'compose', 'register-scanner.mjs'), 'utf8')),
    ])
    const named = new Set([...`${deployDoc}\n${harborDoc}`.matchAll(/\b((?:VIGIL|HARBOR|SCANNER)_[A-Z_]+|NATS_URL)\b/g)].map((m) => m[1]!))
    expect(named.size).toBeGreaterThan(5)
    for (const name of named) expect([...known], name).toContain(name)
  })
})
