#!/bin/sh
# Writes the two secrets every Vigil replica needs, as KEY=value lines, to the file named:
#   VIGIL_API_TOKEN   the bearer token Harbor and API clients send (docs/configuration.md)
#   VIGIL_SECRET_KEY  32 random bytes, base64: the key for registry credentials inside jobs
# deploy/kubernetes reads it as a Secret (kustomize secretGenerator), deploy/compose as .env.
set -eu
if [ $# -ne 1 ]; then
  echo "usage: $0 FILE   (deploy/kubernetes/vigil-secrets.env or deploy/compose/.env)" >&2
  exit 2
fi
out=$1
if [ -e "$out" ]; then
  echo "$out exists; a new key could not decrypt jobs already queued. Delete it first if that is what you want." >&2
  exit 1
fi
umask 077
printf 'VIGIL_API_TOKEN=%s\nVIGIL_SECRET_KEY=%s\n' "$(openssl rand -hex 32)" "$(openssl rand -base64 32)" > "$out"
echo "wrote $out"
