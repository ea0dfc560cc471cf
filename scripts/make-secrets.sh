#!/usr/bin/env bash
# Fills deploy/base/secrets.env (git-ignored) with strong random values for
# every key deploy/base/.env.example lists. Existing values are kept, so
# running it again never rotates a secret by accident (see README, Operations).
set -euo pipefail
cd "$(dirname "$0")/.."

target=deploy/base/secrets.env
example=deploy/base/.env.example
touch "$target"
chmod 600 "$target"
while IFS= read -r line; do
  key=${line%%=*}
  # keys only: comments, blank lines and optional keys (commented out) are skipped
  [[ -z "$key" || "$key" == \#* ]] && continue
  if ! grep -q "^${key}=" "$target"; then
    value=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
    printf '%s=%s\n' "$key" "$value" >> "$target"
    echo "generated $key"
  fi
done < "$example"
echo "secrets in $target (never commit it)"
