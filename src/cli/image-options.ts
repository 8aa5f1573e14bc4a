import { VigilError } from '../errors.js'
import { parseTarget } from '../image/reference.js'
import { credentialsFromFiles } from '../image/registry-auth.js'
import type { RegistryAuth } from '../image/types.js'
import type { SkipOptions } from '../scan/skip.js'
import type { BuildInventoryOptions } from '../scan/inventory.js'

/** The options every command that reads an image takes (`vigil sbom`, `vigil scan`). */
export const IMAGE_OPTIONS = {
  platform: { type: 'string' },
  insecure: { type: 'boolean' },
  username: { type: 'string' },
  password: { type: 'string' },
  'include-os-owned': { type: 'boolean' },
  'skip-dirs': { type: 'string', multiple: true },
  'skip-files': { type: 'string', multiple: true },
} as const

export const IMAGE_OPTIONS_USAGE = `      --platform OS/ARCH   image to pick from a multi-platform index (default linux/amd64)
      --insecure           allow plain http to a non-loopback registry
      --username NAME      registry user   (or $VIGIL_REGISTRY_USERNAME)
      --password SECRET    registry secret (or $VIGIL_REGISTRY_PASSWORD); without either,
                           the logins of docker/podman: $REGISTRY_AUTH_FILE, podman's auth.json,
                           $DOCKER_CONFIG/config.json (~/.docker/config.json), credential helpers
      --include-os-owned   keep language packages whose files an OS package owns (Debian's
                           python3-*, node-*, …); left out by default, as the distro's
                           advisories cover them
      --skip-dirs GLOBS    directories to leave out, relative to the target's root, comma-
                           separated or repeated (**/node_modules,test/fixtures)
      --skip-files GLOBS   files to leave out, likewise (**/*.min.js); a dir: or rootfs: walk
                           does not enter or read them, an image's packages found there are dropped`

interface ImageOptionValues {
  platform?: string | undefined
  insecure?: boolean | undefined
  username?: string | undefined
  password?: string | undefined
  'include-os-owned'?: boolean | undefined
  'skip-dirs'?: string[] | undefined
  'skip-files'?: string[] | undefined
}

/**
 * imageOptions, and for a registry target without credentials from flags or the environment,
 * those `docker login` / `podman login` stored for its host (flags and environment still win).
 */
export async function imageSource(target: string, values: ImageOptionValues, env: NodeJS.ProcessEnv): Promise<ReturnType<typeof imageOptions>> {
  const options = imageOptions(values, env)
  if (options.auth) return options
  let parsed
  try {
    parsed = parseTarget(target)
  } catch {
    // resolveImage reports a bad target with its own error.
    return options
  }
  if (parsed.kind !== 'registry') return options
  const stored = await credentialsFromFiles(parsed.registry, env)
  return stored ? { ...options, auth: stored } : options
}

/** Flags (and the registry credentials in the environment) → buildInventory options. */
export function imageOptions(values: ImageOptionValues, env: NodeJS.ProcessEnv): Pick<BuildInventoryOptions, 'platform' | 'insecure' | 'auth' | 'includeOsOwned'> & SkipOptions {
  const auth = registryAuth(values.username, values.password, env)
  const globs = (list: string[] | undefined) => (list ?? []).flatMap((v) => v.split(',')).map((g) => g.trim()).filter((g) => g !== '')
  const skipDirs = globs(values['skip-dirs'])
  const skipFiles = globs(values['skip-files'])
  return {
    ...(values.platform ? { platform: values.platform } : {}),
    ...(values.insecure ? { insecure: true } : {}),
    ...(auth ? { auth } : {}),
    ...(values['include-os-owned'] ? { includeOsOwned: true } : {}),
    ...(skipDirs.length ? { skipDirs } : {}),
    ...(skipFiles.length ? { skipFiles } : {}),
  }
}

function registryAuth(username: string | undefined, password: string | undefined, env: NodeJS.ProcessEnv): RegistryAuth | undefined {
  const user = username ?? env.VIGIL_REGISTRY_USERNAME
  const pass = password ?? env.VIGIL_REGISTRY_PASSWORD
  if (user === undefined && pass === undefined) return undefined
  if (!user || pass === undefined) throw new VigilError('ERR_USAGE', 'registry credentials need both a username and a password')
  return { kind: 'basic', username: user, password: pass }
}
