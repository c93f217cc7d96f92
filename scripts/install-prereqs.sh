#!/usr/bin/env bash
# Installs what the build needs that a fresh Debian machine may lack: a JDK 17+, a Go toolchain
# (only used to build the Kubernetes control-plane binaries for tests), and the outside peers the
# tests talk to (openssl, a PostgreSQL server, kcat). Maven comes from ./mvnw.
# Idempotent: does nothing when everything is present.
set -euo pipefail

need_apt=()
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if ! command -v java >/dev/null || [[ "$(java_major)" -lt 17 ]] || ! command -v javac >/dev/null; then
  need_apt+=(openjdk-17-jdk-headless)
fi
if ! command -v go >/dev/null; then
  # Debian's Go is older than Kubernetes needs; with GOTOOLCHAIN=auto it fetches the right
  # toolchain from the Go module proxy on first use.
  need_apt+=(golang-go)
fi
command -v curl >/dev/null || command -v wget >/dev/null || need_apt+=(curl)
command -v flock >/dev/null || need_apt+=(util-linux)
# CaOneLinerTest runs the README's openssl line that makes a CA.
command -v openssl >/dev/null || need_apt+=(openssl)
# mtls-jdbc's tests start a real PostgreSQL server (initdb, pg_ctl) from Debian's packages.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
# mtls-kafka's tests produce to the broker with kcat (librdkafka), a peer that is not Java.
command -v kcat >/dev/null || need_apt+=(kcat)

if ((${#need_apt[@]})); then
  if [[ "$(id -u)" != 0 ]]; then
    echo "[install-prereqs] missing: ${need_apt[*]}; install them (apt-get install ${need_apt[*]}) and re-run" >&2
    exit 1
  fi
  echo "[install-prereqs] installing ${need_apt[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi
echo "[install-prereqs] java: $(java -version 2>&1 | head -1); go: $(go version 2>/dev/null || echo none)" >&2
