import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'
import { ROOT } from '../helpers/shared.js'

/**
 * What the code itself says, read from the sources: the deployment tests compare manifests with
 * these, so a renamed variable or a new import fails them instead of drifting.
 */

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true)
}

/** `import(…)`, `require(…)` and `createRequire(import.meta.url)(…)`. */
function loads(callee: ts.Expression): boolean {
  if (callee.kind === ts.SyntaxKind.ImportKeyword) return true
  if (ts.isIdentifier(callee)) return callee.text === 'require'
  return ts.isCallExpression(callee) && ts.isIdentifier(callee.expression) && callee.expression.text === 'createRequire'
}

/** Module specifiers a file loads at run time: value imports, re-exports, import() and require() calls. */
function runtimeSpecifiers(source: ts.SourceFile): string[] {
  const found: string[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause
      // TypeScript erases type-only imports, and imports whose every name is a type.
      const erased = clause !== undefined && (clause.isTypeOnly || (clause.name === undefined && clause.namedBindings !== undefined &&
        ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly)))
      if (!erased) found.push(node.moduleSpecifier.text)
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) && !node.isTypeOnly) {
      found.push(node.moduleSpecifier.text)
    } else if (ts.isCallExpression(node) && node.arguments[0] && ts.isStringLiteral(node.arguments[0]) && loads(node.expression)) {
      found.push(node.arguments[0].text)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? tsFiles(path) : path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : []
  })
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`; undefined for relative paths and Node built-ins. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!)) return undefined
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

/** npm packages loaded at run time by the files under the given folders, each with the files that load it. */
export function runtimePackages(folders: string[]): Map<string, string[]> {
  const packages = new Map<string, string[]>()
  for (const folder of folders) {
    for (const file of tsFiles(join(ROOT, folder))) {
      for (const specifier of runtimeSpecifiers(parse(file))) {
        const name = packageOf(specifier)
        if (name) packages.set(name, [...(packages.get(name) ?? []), relative(ROOT, file)])
      }
    }
  }
  return packages
}

/** The `.ts` file a relative `./x.js` import names. */
function resolveLocal(from: string, specifier: string): string | undefined {
  const base = resolve(dirname(from), specifier)
  return [base.replace(/\.js$/, '.ts'), base + '.ts', join(base, 'index.ts')].find((p) => existsSync(p))
}

const ENV_READ = [
  /\benv\.([A-Z][A-Z0-9_]*)\b/g,
  /\benv\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\]/g,
]

/** Environment variable names read (`env.NAME`, `process.env.NAME`, `env['NAME']`) in a piece of source. */
export function envNamesIn(text: string): Set<string> {
  const names = new Set<string>()
  for (const pattern of ENV_READ) for (const m of text.matchAll(pattern)) names.add(m[1]!)
  return names
}

/**
 * Every environment variable a command can read: the names read in its module and in every
 * module it loads, statically or with import(), followed through the source tree.
 */
export function envReadFrom(entry: string): Set<string> {
  const seen = new Set<string>()
  const names = new Set<string>()
  const queue = [join(ROOT, entry)]
  while (queue.length > 0) {
    const file = queue.pop()!
    if (seen.has(file)) continue
    seen.add(file)
    for (const name of envNamesIn(readFileSync(file, 'utf8'))) names.add(name)
    for (const specifier of runtimeSpecifiers(parse(file))) {
      if (!specifier.startsWith('.')) continue
      const next = resolveLocal(file, specifier)
      if (next) queue.push(next)
    }
  }
  return names
}

/** The variables `vigil serve` reads: src/cli/commands/serve.ts and everything it loads (config, secrets, daemon). */
export const DAEMON_ENTRY = 'src/cli/commands/serve.ts'
