/**
 * deploy/kubernetes: every document valid against the Kubernetes schema of its kind (from
 * kubernetes-models, plus a check for fields no schema knows), and the references between the
 * documents and into the daemon's code hold — selectors, Secret keys, probe paths, environment
 * variables, flags, stream names. No cluster and no kubectl needed (kustomize.test.ts adds those).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { describe, expect, test } from 'vitest'
import { parseDaemonConfig } from '../../src/daemon/config.js'
import { serveCommand } from '../../src/cli/commands/serve.js'
import { parseSecretKey } from '../../src/secrets.js'
import { NATS_SERVER_BIN, noteNatsMissing } from '../helpers/nats.js'
import { ROOT } from '../helpers/shared.js'
import { kubernetesErrors, podTemplates, readDocuments, selects, type Container, type KubeObject, type PodTemplate } from './kube.js'
import { hasCommand, madeSecrets, probeStatus, serveFlags } from './probes.js'
import { DAEMON_ENTRY, envReadFrom } from './sources.js'
import { dockerfile } from './dockerfile.js'

const DIR = join(ROOT, 'deploy', 'kubernetes')
const kustomization = parseYaml(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as {
  namespace: string
  resources: string[]
  secretGenerator: { name: string; envs: string[] }[]
  images: { name: string; newName?: string; newTag?: string }[]
}
const objects: KubeObject[] = kustomization.resources.flatMap((file) => readDocuments(join(DIR, file)))
noteNatsMissing()
const HAS_OPENSSL = hasCommand('openssl')
if (!HAS_OPENSSL) console.warn('[skip] deploy Secret checks: no openssl (deploy/make-secrets.sh uses it)')
const secrets = HAS_OPENSSL ? madeSecrets() : {}
const generated = kustomization.secretGenerator[0]!

/** The Secret kustomize makes from the file deploy/make-secrets.sh writes. */
function generatedSecret(): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: generated.name }, type: 'Opaque',
    data: Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  }
}

function find(kind: string, name: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name)
  if (!found) throw new Error(`no ${kind}/${name} in deploy/kubernetes`)
  return found
}

const templates = podTemplates(objects)
const vigil = templates.find((t) => t.owner.kind === 'StatefulSet' && t.owner.metadata.name === 'vigil')!
const nats = templates.find((t) => t.owner.kind === 'StatefulSet' && t.owner.metadata.name === 'nats')!
const vigilContainer = vigil.spec.containers[0]!
const natsContainer = nats.spec.containers[0]!

/** The environment a container starts with: values, fields and Secret keys resolved as the kubelet would. */
function containerEnv(template: PodTemplate, container: Container, ordinal = 0): Record<string, string> {
  const env: Record<string, string> = {}
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = `${template.owner.metadata.name}-${ordinal}`
    else if (e.valueFrom?.secretKeyRef) env[e.name] = secrets[e.valueFrom.secretKeyRef.key] ?? ''
    else throw new Error(`env ${e.name}: a source this test does not resolve`)
  }
  return env
}

function natsConf(): string {
  return (find('ConfigMap', 'nats-config').data as Record<string, string>)['nats.conf']!
}

/** A value from nats.conf (`key: value` at any depth), e.g. store_dir. */
function confValue(key: string): string {
  const m = new RegExp(`^\\s*${key}\\s*[:=]\\s*(\\S+)`, 'm').exec(natsConf())
  if (!m) throw new Error(`nats.conf has no ${key}`)
  return m[1]!
}

describe('deploy/kubernetes: schemas', () => {
  test('every YAML file in the folder is a kustomize resource, and the kinds are the ones a deployment needs', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    expect(files.sort()).toEqual([...kustomization.resources].sort())
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()
    expect(kinds).toEqual(expect.arrayContaining(['StatefulSet/vigil', 'StatefulSet/nats', 'Service/vigil', 'Service/nats', 'Service/nats-headless', 'ConfigMap/nats-config', 'Namespace/vigil']))
  })

  test('every document is valid against its kind\'s Kubernetes schema and has no unknown fields', async () => {
    const docs = HAS_OPENSSL ? [...objects, generatedSecret()] : objects
    const errors = (await Promise.all(docs.map(kubernetesErrors))).flat()
    expect(errors).toEqual([])
    expect(docs.length).toBeGreaterThanOrEqual(10)
  })

  test('the validator itself rejects a wrong type, a missing field and a misspelt one', async () => {
    const sts = structuredClone(vigil.owner) as KubeObject & { spec: Record<string, unknown> }
    expect(await kubernetesErrors({ ...sts, spec: { ...sts.spec, replicas: 'two' } })).toEqual([expect.stringContaining('replicas must be integer')])
    const { selector: _selector, ...noSelector } = sts.spec
    expect(await kubernetesErrors({ ...sts, spec: noSelector })).toEqual([expect.stringContaining('selector')])
    const misspelt = structuredClone(sts)
    const c = ((misspelt.spec.template as { spec: { containers: Record<string, unknown>[] } }).spec.containers[0]!)
    c.readinesProbe = c.readinessProbe
    delete c.readinessProbe
    expect(await kubernetesErrors(misspelt)).toEqual(['StatefulSet/vigil: unknown field .spec.template.spec.containers[0].readinesProbe'])
  })
})

describe('deploy/kubernetes: references between the documents', () => {
  test('each Service and PodDisruptionBudget selects the pods of a workload, and Service target ports are named container ports', () => {
    for (const svc of objects.filter((o) => o.kind === 'Service')) {
      const spec = svc.spec as { selector: Record<string, string>; ports: { targetPort: string | number }[] }
      const matched = templates.filter((t) => selects(spec.selector, t.labels))
      expect(matched.map((t) => t.owner.metadata.name), `Service/${svc.metadata.name}`).toHaveLength(1)
      const portNames = matched[0]!.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name))
      for (const p of spec.ports) expect(portNames, `Service/${svc.metadata.name} targetPort`).toContain(p.targetPort)
    }
    for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
      const selector = (pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels
      expect(templates.filter((t) => selects(selector, t.labels)), `PodDisruptionBudget/${pdb.metadata.name}`).toHaveLength(1)
    }
  })

  test('each StatefulSet selects its own pods and names a headless Service that selects them too', () => {
    for (const t of templates.filter((t) => t.owner.kind === 'StatefulSet')) {
      const spec = t.owner.spec as { selector: { matchLabels: Record<string, string> }; serviceName: string }
      expect(selects(spec.selector.matchLabels, t.labels)).toBe(true)
      const headless = find('Service', spec.serviceName).spec as { clusterIP: string; selector: Record<string, string> }
      expect(headless.clusterIP).toBe('None')
      expect(selects(headless.selector, t.labels)).toBe(true)
    }
  })

  test('every volume mount names a volume or a claim template, and ConfigMap volumes name a ConfigMap here', () => {
    for (const t of templates) {
      const claims = ((t.owner.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? []).map((c) => c.metadata.name)
      const volumes = (t.spec.volumes ?? []).map((v) => v.name)
      for (const c of t.spec.containers) for (const m of c.volumeMounts ?? []) expect([...volumes, ...claims], `${t.owner.metadata.name}: ${m.name}`).toContain(m.name)
      for (const v of t.spec.volumes ?? []) if (v.configMap) expect(find('ConfigMap', v.configMap.name)).toBeDefined()
    }
  })

  test.skipIf(!HAS_OPENSSL)('the Secret keys the pods read are the ones deploy/make-secrets.sh writes, under the generated Secret\'s name', () => {
    expect(kustomization.secretGenerator).toHaveLength(1)
    expect(generated.envs).toEqual(['vigil-secrets.env'])
    expect(readFileSync(join(DIR, '.gitignore'), 'utf8').split('\n')).toContain('vigil-secrets.env')
    const refs = templates.flatMap((t) => t.spec.containers.flatMap((c) => (c.env ?? []).flatMap((e) => e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef] : [])))
    expect(refs.length).toBeGreaterThanOrEqual(2)
    for (const ref of refs) {
      expect(ref.name).toBe(generated.name)
      expect(Object.keys(secrets)).toContain(ref.key)
    }
  })

  test('pods meet the "restricted" Pod Security Standard the namespace enforces', () => {
    expect(find('Namespace', kustomization.namespace).metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted')
    for (const t of templates) {
      expect(t.spec.securityContext?.runAsNonRoot, t.owner.metadata.name).toBe(true)
      expect(t.spec.securityContext?.seccompProfile?.type, t.owner.metadata.name).toBe('RuntimeDefault')
      for (const c of t.spec.containers) {
        expect(c.securityContext?.allowPrivilegeEscalation, c.name).toBe(false)
        expect(c.securityContext?.capabilities?.drop, c.name).toEqual(['ALL'])
        expect(c.securityContext?.readOnlyRootFilesystem, c.name).toBe(true)
        expect(c.resources?.requests?.memory && c.resources?.limits?.memory, `${c.name} memory request and limit`).toBeTruthy()
      }
      for (const v of t.spec.volumes ?? []) expect(Object.keys(v).filter((k) => k !== 'name'), `${t.owner.metadata.name} volume ${v.name}`).toEqual([expect.stringMatching(/^(configMap|emptyDir|secret|projected|persistentVolumeClaim)$/)])
    }
  })
})

describe('deploy/kubernetes: Vigil against the daemon\'s code', () => {
  test('every environment variable set on Vigil is one `vigil serve` reads (src/cli/commands/serve.ts and what it loads)', () => {
    const reads = envReadFrom(DAEMON_ENTRY)
    expect(reads).toContain('VIGIL_API_TOKEN')
    for (const e of vigilContainer.env ?? []) expect([...reads], e.name).toContain(e.name)
  })

  test('the token and the credential key come from the Secret, never from a value in the manifest', () => {
    const byName = new Map((vigilContainer.env ?? []).map((e) => [e.name, e]))
    for (const name of ['VIGIL_API_TOKEN', 'VIGIL_SECRET_KEY']) {
      expect(byName.get(name)?.valueFrom?.secretKeyRef, name).toBeDefined()
      expect(byName.get(name)?.value, name).toBeUndefined()
    }
  })

  test.skipIf(!HAS_OPENSSL)('the args and environment pass the daemon\'s own config validation, with the data dir on the claim and the broker on the NATS Service', () => {
    const { command, flags } = serveFlags(vigilContainer.args ?? [])
    expect(command).toBe('serve')
    for (const flag of Object.keys(flags)) expect(serveCommand.usage, `--${flag}`).toContain(`--${flag} `)
    const env = containerEnv(vigil, vigilContainer, 1)
    const config = parseDaemonConfig(flags, env)
    expect(config.workers).toBe(Number(vigilContainer.resources?.limits?.cpu))
    expect(config.apiToken).toBe(secrets.VIGIL_API_TOKEN)
    expect(parseSecretKey(env.VIGIL_SECRET_KEY!)).toHaveLength(32)
    expect(config.replicaId).toBe('vigil-1')
    const dataMount = vigilContainer.volumeMounts!.find((m) => m.mountPath === config.dataDir)
    const claims = (vigil.owner.spec as { volumeClaimTemplates: { metadata: { name: string } }[] }).volumeClaimTemplates.map((c) => c.metadata.name)
    expect(claims).toContain(dataMount?.name)
    const broker = new URL(config.natsUrl!)
    const natsService = find('Service', broker.hostname).spec as { ports: { port: number }[]; selector: Record<string, string> }
    expect(natsService.ports.map((p) => p.port)).toContain(Number(broker.port))
    expect(selects(natsService.selector, nats.labels)).toBe(true)
    const httpPort = vigilContainer.ports!.find((p) => p.name === 'http')!
    expect(config.http?.port).toBe(httpPort.containerPort)
    expect(config.http?.host).toBe('0.0.0.0')
  })

  test('readiness asks /readyz and liveness /healthz of the real health routes: liveness holds while the index is still catching up', async () => {
    const { readinessProbe, livenessProbe, startupProbe } = vigilContainer
    expect(readinessProbe?.httpGet?.port).toBe('http')
    expect(await probeStatus(readinessProbe!.httpGet!.path, true)).toBe(200)
    expect(await probeStatus(readinessProbe!.httpGet!.path, false)).toBe(503)
    for (const probe of [livenessProbe, startupProbe]) {
      expect(probe?.httpGet?.port).toBe('http')
      expect(await probeStatus(probe!.httpGet!.path, false)).toBe(200)
    }
  })

  test('the pod runs as the image\'s user and group, and the data dir is the image\'s volume', () => {
    const image = dockerfile()
    expect(`${vigil.spec.securityContext?.runAsUser}:${vigil.spec.securityContext?.runAsGroup}`).toBe(image.runtime.user)
    expect(vigil.spec.securityContext?.fsGroup).toBe(vigil.spec.securityContext?.runAsGroup)
    expect(containerEnv(vigil, vigilContainer).VIGIL_DATA ?? image.runtime.env.VIGIL_DATA).toBe(image.runtime.volume)
    expect(kustomization.images.map((i) => i.name)).toContain(vigilContainer.image)
  })
})

describe('deploy/kubernetes: the NATS cluster', () => {
  test('three servers, each routed to all three by pod DNS name on the cluster port, named after the pod', () => {
    const replicas = (nats.owner.spec as { replicas: number; serviceName: string }).replicas
    const headless = (nats.owner.spec as { serviceName: string }).serviceName
    expect(replicas).toBe(3)
    const clusterPort = natsContainer.ports!.find((p) => p.name === 'cluster')!.containerPort
    expect(Number(confValue('port'))).toBe(natsContainer.ports!.find((p) => p.name === 'client')!.containerPort)
    const routes = [...natsConf().matchAll(/nats:\/\/([a-z0-9.-]+):(\d+)/g)].map((m) => `${m[1]}:${m[2]}`)
    expect(routes).toEqual(Array.from({ length: replicas }, (_, i) => `${nats.owner.metadata.name}-${i}.${headless}:${clusterPort}`))
    expect((find('Service', headless).spec as { publishNotReadyAddresses?: boolean }).publishNotReadyAddresses).toBe(true)
    expect(confValue('server_name')).toBe('$POD_NAME')
    expect(natsContainer.env?.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name')
  })

  test('JetStream stores on the claim, the pid file (lame duck on stop) and the probes use mounted paths and the monitoring port', () => {
    const mounts = new Map(natsContainer.volumeMounts!.map((m) => [m.mountPath, m.name]))
    const claims = (nats.owner.spec as { volumeClaimTemplates: { metadata: { name: string } }[] }).volumeClaimTemplates.map((c) => c.metadata.name)
    expect(claims).toContain(mounts.get(confValue('store_dir')))
    const pidFile = confValue('pid_file')
    expect(mounts.has(pidFile.slice(0, pidFile.lastIndexOf('/')))).toBe(true)
    expect(natsContainer.lifecycle?.preStop?.exec?.command).toEqual(['nats-server', `-sl=ldm=${pidFile}`])
    const monitor = natsContainer.ports!.find((p) => p.name === 'monitor')!.containerPort
    expect(Number(confValue('http_port'))).toBe(monitor)
    for (const probe of [natsContainer.readinessProbe, natsContainer.livenessProbe, natsContainer.startupProbe]) expect(probe?.httpGet?.port).toBe('monitor')
    const configMount = natsContainer.volumeMounts!.find((m) => m.name === 'config')!
    expect(natsContainer.args).toEqual(['--config', `${configMount.mountPath}/nats.conf`])
  })

  test.skipIf(!NATS_SERVER_BIN)('nats-server accepts the cluster configuration (nats-server -t)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-nats-conf-'))
    try {
      writeFileSync(join(dir, 'nats.conf'), natsConf())
      // -t exits non-zero (execFileSync throws) on a configuration it does not accept.
      execFileSync(NATS_SERVER_BIN!, ['-c', join(dir, 'nats.conf'), '-t'], { env: { ...process.env, POD_NAME: 'nats-0' }, stdio: 'pipe' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test.skipIf(!HAS_OPENSSL)('Vigil asks for a copy of every stream and bucket on each NATS server, explicitly: the cluster hides its client URLs, so the default would count one server', () => {
    const config = parseDaemonConfig(serveFlags(vigilContainer.args ?? []).flags, containerEnv(vigil, vigilContainer))
    expect(config.replicas).toBe((nats.owner.spec as { replicas: number }).replicas)
    expect(confValue('no_advertise')).toBe('true')
  })
})
