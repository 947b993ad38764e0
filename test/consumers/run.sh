#!/usr/bin/env bash
# Packs the library as it would be published and runs each app under test/consumers against the
# tarball: a NestJS 11 CommonJS app and a NestJS 12 ES module app. Each app installs exactly its
# own lockfile (npm ci), then the tarball on top without saving it.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

rm -f nestjs-sessionkit-*.tgz
npm pack --silent >/dev/null # prepack builds dist/
tarball="$(ls "$root"/nestjs-sessionkit-*.tgz)"

for app in nest11-cjs nest12-esm; do
  echo "== consumer $app"
  (
    cd "test/consumers/$app"
    npm ci --prefer-offline --no-audit --no-fund --loglevel=error
    npm install --no-save --prefer-offline --no-audit --no-fund --loglevel=error "$tarball"
    npm test --silent
  )
done
rm -f "$tarball"
