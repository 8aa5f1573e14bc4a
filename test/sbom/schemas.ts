import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsPlugin from 'ajv-formats'
import { sharedPath } from '../helpers/shared.js'

/** ajv over the official schemas: CycloneDX's (shipped in the library) and SPDX 2.3's (../shared). */

// ajv-formats is CommonJS: under NodeNext its default import is the module object, whose `default` is the plugin.
const addFormats = ((addFormatsPlugin as unknown as { default?: unknown }).default ?? addFormatsPlugin) as (ajv: Ajv) => Ajv
const CDX_SCHEMA_DIR = join(dirname(createRequire(import.meta.url).resolve('@cyclonedx/cyclonedx-library/package.json')), 'res', 'schema')

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
}

export function newAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true })
  addFormats(ajv)
  // CycloneDX uses these draft-2019 formats; the library's own validator accepts them as given too.
  ajv.addFormat('iri-reference', true)
  ajv.addFormat('idn-email', true)
  return ajv
}

const compiled = new Map<string, ValidateFunction>()

/** Compiling the CycloneDX schema takes a while; one validator per version per test file. */
export function cycloneDxValidator(version: '1.4' | '1.5' | '1.6'): ValidateFunction {
  const hit = compiled.get(version)
  if (hit) return hit
  const ajv = newAjv()
  // The bom schema refers to its helpers by file name; register them under those URLs.
  for (const helper of ['spdx.SNAPSHOT.schema.json', 'jsf-0.82.SNAPSHOT.schema.json']) {
    ajv.addSchema({ ...readJson(join(CDX_SCHEMA_DIR, helper)), $id: `http://cyclonedx.org/schema/${helper}` })
  }
  const validate = ajv.compile(readJson(join(CDX_SCHEMA_DIR, `bom-${version}.SNAPSHOT.schema.json`)))
  compiled.set(version, validate)
  return validate
}

export function spdxValidator(): ValidateFunction {
  return newAjv().compile(readJson(sharedPath('schemas/spdx-2.3.schema.json')))
}

export function explain(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).slice(0, 5).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`).join('\n')
}
