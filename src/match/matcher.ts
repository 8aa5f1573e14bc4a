import type { Store } from '../store/env.js'
import { readCompiled, readExploit } from '../store/advisories.js'
import type { Inventory, OsInfo, Package } from '../types.js'
import { comparatorFor } from './compare.js'
import { affectedKeys } from './keys.js'
import type { CompiledAdvisory } from './model.js'
import { inRange } from './ranges.js'
import { riskScore } from './risk.js'
import { preferredCvss, severityOf } from './severity.js'
import { packageKey, type Finding, type FixState } from './types.js'

/**
 * Findings for one package: a pure function of (store contents, package, os). Distro packages
 * are looked up only under their release's key (by source name / origin), so upstream ranges
 * never apply to them and the distro's fixed version wins (DESIGN.md "Matching rules").
 */
export function matchPackage(store: Store, pkg: Package, os?: OsInfo): Finding[] {
  // A language package whose files an OS package owns is the OS package's to report (as Trivy does).
  if (pkg.osOwned) return []
  const findings: Finding[] = []
  const seenIds = new Set<string>()
  const seenAliases = new Set<string>()
  for (const key of affectedKeys(pkg, os)) {
    for (const adv of readCompiled(store, key)) {
      // One vulnerability published under several ids (GO-… aliasing GHSA-…) is reported once.
      if (seenIds.has(adv.id) || seenAliases.has(adv.id) || adv.aliases.some((a) => seenIds.has(a))) continue
      if (!affects(adv, pkg.version)) continue
      seenIds.add(adv.id)
      for (const a of adv.aliases) seenAliases.add(a)
      findings.push(toFinding(store, adv, pkg))
    }
  }
  return findings
}

/** matchPackage for every package, in inventory order. */
export function matchInventory(store: Store, inventory: Pick<Inventory, 'packages' | 'os'>): Finding[] {
  const out: Finding[] = []
  for (const pkg of inventory.packages) out.push(...matchPackage(store, pkg, inventory.os))
  return out
}

export function affects(adv: CompiledAdvisory, version: string): boolean {
  if (adv.versions.includes(version)) return true
  for (const range of adv.ranges) {
    const cmp = comparatorFor(adv.ecosystem, range.type)
    if (cmp && inRange(version, range, cmp)) return true
  }
  return false
}

function toFinding(store: Store, adv: CompiledAdvisory, pkg: Package): Finding {
  const state: FixState = adv.state ?? (adv.fixed.length > 0 ? 'fixed' : 'affected')
  const { severity, source } = severityOf(adv)
  const exploit = readExploit(store, [adv.id, ...adv.aliases])
  const best = preferredCvss(adv.cvss)
  const finding: Finding = {
    id: adv.id,
    aliases: adv.aliases,
    pkgKey: packageKey(pkg),
    ecosystem: pkg.ecosystem,
    name: pkg.name,
    installed: pkg.version,
    fixedVersions: state === 'fixed' ? adv.fixed : [],
    state,
    severity,
    severitySource: source,
    cvss: adv.cvss,
    risk: riskScore({ severity, cvssScore: best?.score, epss: exploit.epss, kev: exploit.kev, state }),
    purl: pkg.purl,
    path: pkg.path,
  }
  if (exploit.epss !== undefined) finding.epss = exploit.epss
  if (exploit.kev) finding.kev = true
  if (adv.title) finding.title = adv.title
  if (pkg.layer) finding.layer = pkg.layer
  if (adv.modified) finding.modified = adv.modified
  return finding
}
