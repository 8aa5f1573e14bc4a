/**
 * A small tmpfs of the test's own, for disk-full tests: mounted on a fresh temp dir (root only),
 * resized and unmounted by the test. Where mounting is not allowed it returns undefined and says why.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function mountTmpfs(megabytes: number, what: string): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-tmpfs-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir], { stdio: 'ignore' })
    return dir
  } catch {
    rmSync(dir, { recursive: true, force: true })
    console.warn(`[skip] ${what}: cannot mount a tmpfs here (needs root)`)
    return undefined
  }
}

export function resizeTmpfs(dir: string, megabytes: number): void {
  execFileSync('mount', ['-o', `remount,size=${megabytes}m`, dir])
}

export function unmountTmpfs(dir: string): void {
  execFileSync('umount', [dir])
  rmSync(dir, { recursive: true, force: true })
}
