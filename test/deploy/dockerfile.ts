import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../helpers/shared.js'

/** One instruction of a Dockerfile, continuation lines joined. */
export interface Instruction { keyword: string; args: string }

/** The last stage of the Dockerfile: what the image that runs is made of. */
export interface RuntimeStage {
  instructions: Instruction[]
  /** `USER` as written, e.g. `10001:10001`. */
  user: string | undefined
  env: Record<string, string>
  volume: string | undefined
  expose: number[]
  healthcheck: { options: Record<string, string>; cmd: string[] } | undefined
  entrypoint: string[]
  cmd: string[]
  /** `COPY --from=<stage> <source>` sources. */
  copiedFromBuild: string[]
}

/** Instructions in order; comments and blank lines dropped, `\` continuations joined. */
export function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\r?\n/g, ' ')
  return joined.split('\n').flatMap((line) => {
    const t = line.trim()
    if (t === '' || t.startsWith('#')) return []
    const m = /^(\S+)\s*(.*)$/.exec(t)!
    return [{ keyword: m[1]!.toUpperCase(), args: m[2]! }]
  })
}

/** `ENV A=1 B="two words"` → {A: '1', B: 'two words'}. */
function envPairs(args: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) out[m[1]!] = m[3] ?? m[2]!
  return out
}

/** Exec form only (`["a", "b"]`): the shell form would need a shell the checks do not model. */
function execForm(args: string, where: string): string[] {
  const parsed = JSON.parse(args) as unknown
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`${where} is not in exec form: ${args}`)
  return parsed
}

export function dockerfile(path = join(ROOT, 'Dockerfile')): { all: Instruction[]; runtime: RuntimeStage } {
  const all = instructions(readFileSync(path, 'utf8'))
  const lastFrom = all.map((i) => i.keyword).lastIndexOf('FROM')
  const stage = all.slice(lastFrom)
  const runtime: RuntimeStage = { instructions: stage, user: undefined, env: {}, volume: undefined, expose: [], healthcheck: undefined, entrypoint: [], cmd: [], copiedFromBuild: [] }
  for (const { keyword, args } of stage) {
    if (keyword === 'USER') runtime.user = args
    else if (keyword === 'ENV') Object.assign(runtime.env, envPairs(args))
    else if (keyword === 'VOLUME') runtime.volume = execForm(args, 'VOLUME')[0]
    else if (keyword === 'EXPOSE') runtime.expose.push(...args.split(/\s+/).map((p) => Number(p.split('/')[0])))
    else if (keyword === 'ENTRYPOINT') runtime.entrypoint = execForm(args, 'ENTRYPOINT')
    else if (keyword === 'CMD') runtime.cmd = execForm(args, 'CMD')
    else if (keyword === 'COPY' && args.startsWith('--from=')) runtime.copiedFromBuild.push(args.split(/\s+/)[1]!)
    else if (keyword === 'HEALTHCHECK') {
      const m = /^((?:--\S+=\S+\s+)*)CMD\s+(.*)$/.exec(args)
      if (!m) throw new Error(`HEALTHCHECK without CMD: ${args}`)
      const options = Object.fromEntries([...m[1]!.matchAll(/--(\S+?)=(\S+)/g)].map((o) => [o[1]!, o[2]!]))
      runtime.healthcheck = { options, cmd: execForm(m[2]!, 'HEALTHCHECK CMD') }
    }
  }
  return { all, runtime }
}
