import { readFileSync } from 'node:fs'
import { parseAllDocuments } from 'yaml'

/** A Kubernetes object as YAML gives it. */
export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string> }
  [field: string]: unknown
}

/** Every document of a multi-document YAML file; a YAML syntax error throws. */
export function readDocuments(path: string): KubeObject[] {
  return parseDocuments(readFileSync(path, 'utf8'), path)
}

export function parseDocuments(text: string, where: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors.map((e) => e.message).join('; ')}`)
    const value = doc.toJS() as KubeObject | null
    return value === null ? [] : [value]
  })
}

/**
 * Wraps an object tree so that every property the validator reads is crossed off; what is left
 * unread at the end are fields the schema does not know (a typo such as `readinesProbe`).
 * Kubernetes' OpenAPI schemas allow unknown fields, and the API server drops them silently or
 * (kubectl's strict validation) refuses them; kubernetes-models' validators read every field
 * they know, so an unread one is one the schema lacks.
 */
function tracked(value: unknown, path: string, unread: Map<string, Set<string>>): unknown {
  if (Array.isArray(value)) return value.map((v, i) => tracked(v, `${path}[${i}]`, unread))
  if (value === null || typeof value !== 'object') return value
  const pending = new Set(Object.keys(value))
  unread.set(path, pending)
  const copy = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tracked(v, `${path}.${k}`, unread)]))
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === 'string') pending.delete(key)
      return Reflect.get(target, key, receiver)
    },
  })
}

type ModelClass = { prototype: { validate(this: unknown): void } }

/** `apps/v1` → kubernetes-models/apps/v1, `v1` → kubernetes-models/v1. */
async function modelFor(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  let module: Record<string, unknown>
  try {
    module = await import(/* @vite-ignore */ `kubernetes-models/${apiVersion}`) as Record<string, unknown>
  } catch {
    return undefined
  }
  return module[kind] as ModelClass | undefined
}

/** Schema errors and unknown fields of one object, as readable lines; empty when it is valid. */
export async function kubernetesErrors(object: KubeObject): Promise<string[]> {
  const where = `${object.kind}/${object.metadata?.name}`
  const model = await modelFor(object.apiVersion, object.kind)
  if (!model) return [`${where}: no schema for apiVersion ${object.apiVersion} kind ${object.kind} in kubernetes-models`]
  const unread = new Map<string, Set<string>>()
  const errors: string[] = []
  try {
    model.prototype.validate.call(tracked(object, '', unread))
  } catch (err) {
    errors.push(`${where}: ${(err as Error).message}`)
  }
  // A failed validation stops reading early, so unknown fields are only meaningful after a pass.
  if (errors.length === 0) {
    const unknown = [...unread].flatMap(([path, keys]) => [...keys].map((key) => `${path}.${key}`))
    // Inside an unknown field nothing is read; name only the outermost one.
    const outermost = unknown.filter((field) => !unknown.some((outer) => field.startsWith(outer + '.') || field.startsWith(outer + '[')))
    for (const field of outermost) errors.push(`${where}: unknown field ${field}`)
  }
  return errors
}

/** Pod templates of the workloads in a set of objects. */
export interface PodTemplate {
  owner: KubeObject
  labels: Record<string, string>
  spec: PodSpec
}

export interface Container {
  name: string
  image: string
  args?: string[]
  command?: string[]
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } }[]
  ports?: { name?: string; containerPort: number }[]
  readinessProbe?: Probe
  livenessProbe?: Probe
  startupProbe?: Probe
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> }
  securityContext?: SecurityContext
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[]
  lifecycle?: { preStop?: { exec?: { command: string[] } } }
}

export interface Probe { httpGet?: { path: string; port: string | number } }

export interface SecurityContext {
  runAsNonRoot?: boolean
  runAsUser?: number
  runAsGroup?: number
  allowPrivilegeEscalation?: boolean
  readOnlyRootFilesystem?: boolean
  capabilities?: { drop?: string[]; add?: string[] }
  seccompProfile?: { type: string }
}

export interface PodSpec {
  containers: Container[]
  securityContext?: SecurityContext & { fsGroup?: number }
  volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string }; emptyDir?: object }[]
}

export function podTemplates(objects: KubeObject[]): PodTemplate[] {
  return objects.flatMap((owner) => {
    const spec = owner.spec as { template?: { metadata?: { labels?: Record<string, string> }; spec: PodSpec } } | undefined
    if (!spec?.template) return []
    return [{ owner, labels: spec.template.metadata?.labels ?? {}, spec: spec.template.spec }]
  })
}

export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v)
}
