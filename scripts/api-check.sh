#!/usr/bin/env bash
# The public API of one module, read from its compiled classes, compared with the baseline the
# module commits in api/public-api.txt. Runs in `verify` for every module that has that file (the
# root pom's api-check profile). A difference fails the build with the diff: a change to the public
# surface is a deliberate step, made by updating the baseline in the same commit.
#
# What counts: every public or protected class, interface, enum, record and annotation outside the
# `internal` packages, with its public and protected members (javap -protected: signatures with
# generics, supertypes, constants' types). Not counted: package-private and private code, the
# `internal` packages, module-info.
#
# usage: api-check.sh <module dir> [true|false]   (true: write the baseline instead of checking)
# Update one module's baseline (or several, comma-separated):
#   ./mvnw -B -o -pl <module> -am verify -DskipTests -Dkube-mtls.api.update=true
set -euo pipefail

module=$(cd "${1:?usage: api-check.sh <module dir> [true|false]}" && pwd)
update=${2:-false}
javap=${JAVAP:-javap}
classes="$module/target/classes"
baseline="$module/api/public-api.txt"
name=$(basename "$module")

if [[ ! -d "$classes" ]]; then
  echo "api-check: $classes does not exist; compile $name first" >&2
  exit 1
fi

# Class names, sorted the same everywhere.
mapfile -t names < <(cd "$classes" && find . -name '*.class' ! -name 'module-info.class' \
  ! -name 'package-info.class' ! -path '*/internal/*' | sed 's|^\./||; s|\.class$||; s|/|.|g' | LC_ALL=C sort)

current=$(mktemp)
trap 'rm -f "$current"' EXIT
{
  echo "# The public API of $name (scripts/api-check.sh). Do not edit: regenerate with"
  echo "#   ./mvnw -B -o -pl $name -am verify -DskipTests -Dkube-mtls.api.update=true"
  if (( ${#names[@]} > 0 )); then
    # Keep a class (header at column 0 through its closing brace) only if it is public or protected.
    "$javap" -protected -cp "$classes" "${names[@]}" | awk '
      /^Compiled from / { next }
      /^[^ }]/ { keep = ($0 ~ /^(public|protected) /) }
      keep { print }
      /^}/ { keep = 0 }'
  fi
} > "$current"

if [[ "$update" == "true" ]]; then
  mkdir -p "$(dirname "$baseline")"
  cp "$current" "$baseline"
  echo "api-check: wrote $baseline ($(grep -c '^[a-z].* {$' "$baseline" || true) public types)"
  exit 0
fi

if [[ ! -f "$baseline" ]]; then
  echo "api-check: $name has no baseline $baseline; create it with" >&2
  echo "  ./mvnw -B -o -pl $name -am verify -DskipTests -Dkube-mtls.api.update=true" >&2
  exit 1
fi

if ! diff -u --label "committed $baseline" --label "compiled $name" "$baseline" "$current"; then
  cat >&2 <<MSG

api-check: the public API of $name differs from its committed baseline (diff above: '-' is the
baseline, '+' the code). If the change is deliberate, update the baseline and commit it with the
change, so that the review sees it:
  ./mvnw -B -o -pl $name -am verify -DskipTests -Dkube-mtls.api.update=true
Otherwise make the new types or members package-private, or move them to an internal package.
MSG
  exit 1
fi
echo "api-check: the public API of $name matches $baseline"
