#!/usr/bin/env bash
# Finds or builds the Kubernetes control-plane binaries the integration tests run
# (etcd, kube-apiserver, kube-controller-manager, kubectl) for one pinned release, and
# kubemark (a hollow kubelet, built from scripts/kubemark/main.go; needs Go).
#
#   scripts/k8s-binaries.sh            # ensure the binaries exist, print their directory
#   scripts/k8s-binaries.sh --check    # exit 1 (and say what is missing) instead of building
#   KUBE_MTLS_SKIP_KUBEMARK=true ...   # the control-plane binaries only (./demo needs no kubemark)
#
# Layout of the cache (outside the repository, keyed by version; the same layout
# io.fabric8:kube-api-test uses, so its downloader can fill it too):
#   ${KUBE_MTLS_BIN_CACHE:-~/.cache/kube-mtls}/k8s/<k8s-version>-linux-amd64/{etcd,kube-apiserver,kube-controller-manager,kubectl}
#   .../<k8s-version>-linux-amd64/kubemark   (built on its own when missing, so an older cache only gains it)
#
# Order: cache hit -> build from Go modules with the Go toolchain -> download (online machines
# without Go). Every failure says what is missing and how to fix it.
set -euo pipefail

# The version is set once, in the parent pom (kube-mtls.k8s.version); Maven passes it in KUBE_MTLS_K8S_VERSION.
POM_VERSION="$(sed -n 's:.*<kube-mtls.k8s.version>\(.*\)</kube-mtls.k8s.version>.*:\1:p' "$(dirname "$0")/../pom.xml" | head -1)"
K8S_VERSION="${KUBE_MTLS_K8S_VERSION:-${POM_VERSION}}"
[[ -n "${K8S_VERSION}" ]] || { echo "[k8s-binaries] ERROR: no Kubernetes version: set KUBE_MTLS_K8S_VERSION or kube-mtls.k8s.version in pom.xml" >&2; exit 1; }
ETCD_VERSION="${KUBE_MTLS_ETCD_VERSION:-3.6.6}"
CACHE_ROOT="${KUBE_MTLS_BIN_CACHE:-${HOME}/.cache/kube-mtls}"
BIN_DIR="${CACHE_ROOT}/k8s/${K8S_VERSION}-linux-amd64"
STAMP="${BIN_DIR}/.complete-etcd-${ETCD_VERSION}"
BINARIES=(etcd kube-apiserver kube-controller-manager kubectl)
KUBEMARK_SRC="$(cd "$(dirname "$0")" && pwd)/kubemark/main.go"

log() { echo "[k8s-binaries] $*" >&2; }
die() { echo "[k8s-binaries] ERROR: $*" >&2; exit 1; }

have_all() {
  [[ -f "${STAMP}" ]] || return 1
  local b
  for b in "${BINARIES[@]}"; do [[ -x "${BIN_DIR}/${b}" ]] || return 1; done
}

have_kubemark() { [[ "${KUBE_MTLS_SKIP_KUBEMARK:-false}" == "true" || -x "${BIN_DIR}/kubemark" ]]; }

if have_all && have_kubemark; then
  km="and kubemark"; [[ -x "${BIN_DIR}/kubemark" ]] || km="(kubemark not wanted: KUBE_MTLS_SKIP_KUBEMARK=true)"
  log "cache hit: Kubernetes v${K8S_VERSION}, etcd v${ETCD_VERSION} ${km} in ${BIN_DIR}"
  echo "${BIN_DIR}"
  exit 0
fi
if [[ "${1:-}" == "--check" ]]; then
  for b in "${BINARIES[@]}"; do [[ -x "${BIN_DIR}/${b}" ]] || log "missing: ${BIN_DIR}/${b}"; done
  have_kubemark || log "missing: ${BIN_DIR}/kubemark"
  die "binaries for Kubernetes v${K8S_VERSION} are not cached; run scripts/k8s-binaries.sh to build them"
fi

mkdir -p "${CACHE_ROOT}"
# One builder at a time per cache; a second caller waits and then finds the cache.
exec 9>"${CACHE_ROOT}/.lock"
flock 9
if have_all && have_kubemark; then echo "${BIN_DIR}"; exit 0; fi

go_env() {
  export GOFLAGS="-trimpath -mod=mod" CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
}

# Writes ./go.mod for module $1: requires k8s.io/kubernetes v${K8S_VERSION} and maps every staging
# module (k8s.io/<name> => ./staging/src/k8s.io/<name> upstream) to its published v0.<minor>.<patch>,
# so the versions of all other modules follow from k8s.io/kubernetes' own go.mod.
write_k8s_go_mod() {
  local gitver="v${K8S_VERSION}" upstream_mod
  go mod download -json "k8s.io/kubernetes@${gitver}" > dl.json
  upstream_mod="$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' dl.json)"
  [[ -f "${upstream_mod}" ]] || die "go mod download of k8s.io/kubernetes@${gitver} gave no go.mod"
  {
      echo "module $1"
      echo
      sed -n 's/^go \(.*\)$/go \1/p' "${upstream_mod}" | head -1
      sed -n 's/^godebug \(.*\)$/godebug \1/p' "${upstream_mod}" | head -1
      echo
      echo "require k8s.io/kubernetes ${gitver}"
      echo
      echo "replace ("
      # Each staging module k8s.io/<name> => ./staging/src/k8s.io/<name> is published as v0.<minor>.<patch>.
      sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/k8s\.io/.*#\t\1 => \1 v0.'"${K8S_VERSION#*.}"'#p' "${upstream_mod}"
      echo ")"
  } > go.mod
}

# -ldflags that stamp the release into the binaries (what `--version` prints).
k8s_ldflags() {
  local gitver="v${K8S_VERSION}" minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=${gitver} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/component-base/version.gitTreeState=clean"
  echo "${ld} -X k8s.io/client-go/pkg/version.gitVersion=${gitver} -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=${minor}"
}

build_with_go() {
  local work gitver
  work="$(mktemp -d "${CACHE_ROOT}/build.XXXXXX")"
  trap 'rm -rf "${work}"' RETURN
  go_env
  gitver="v${K8S_VERSION}"

  log "building Kubernetes ${gitver} from Go modules (a cold build takes several minutes)"
  mkdir -p "${work}/k8s" "${work}/etcd" "${work}/out"
  (
    cd "${work}/k8s"
    write_k8s_go_mod kube-mtls.local/k8s-binaries
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    go mod tidy -e >/dev/null 2>&1 || true
    go mod download
    go build -tags tools -ldflags "$(k8s_ldflags)" -o "${work}/out/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kubectl
  )
  log "building etcd v${ETCD_VERSION}"
  (
    cd "${work}/etcd"
    printf 'module kube-mtls.local/etcd-binary\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "${ETCD_VERSION}" > go.mod
    cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
    go mod tidy -e >/dev/null 2>&1 || true
    go build -tags tools -ldflags "-s -w" -o "${work}/out/etcd" go.etcd.io/etcd/server/v3
  )
  mkdir -p "${BIN_DIR}"
  local b
  for b in "${BINARIES[@]}"; do
    [[ -x "${work}/out/${b}" ]] || die "the Go build did not produce ${b}"
    mv -f "${work}/out/${b}" "${BIN_DIR}/${b}"
  done
}

# kubemark: the hollow node of k8s.io/kubernetes/cmd/kubemark behind scripts/kubemark/main.go, which
# lets KUBEMARK_FEATURE_GATES turn on kubelet feature gates. Same module graph as the binaries above;
# its kube-proxy morph pulls a few more modules (moby/ipvs, vishvananda/netlink, knftables, ...) whose
# versions come from k8s.io/kubernetes' go.mod through `go mod tidy`.
build_kubemark() {
  local work
  [[ -f "${KUBEMARK_SRC}" ]] || die "missing ${KUBEMARK_SRC} (the kubemark wrapper source); check out the whole repository"
  work="$(mktemp -d "${CACHE_ROOT}/build-kubemark.XXXXXX")"
  trap 'rm -rf "${work}"' RETURN
  go_env
  log "building kubemark v${K8S_VERSION} from Go modules (the hollow kubelet; a cold build takes several minutes)"
  (
    cd "${work}"
    write_k8s_go_mod kube-mtls.local/kubemark
    cp "${KUBEMARK_SRC}" main.go
    go mod tidy >tidy.log 2>&1 || { cat tidy.log >&2; die "go mod tidy for kubemark failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"; }
    go build -ldflags "$(k8s_ldflags)" -o "${work}/kubemark" . || die "the Go build of kubemark failed"
  )
  [[ -x "${work}/kubemark" ]] || die "the Go build did not produce kubemark"
  mkdir -p "${BIN_DIR}"
  mv -f "${work}/kubemark" "${BIN_DIR}/kubemark"
}

download_binaries() {
  # For machines that are online but have no Go: the official release artifacts.
  command -v curl >/dev/null || die "neither Go nor curl is available: install Go (https://go.dev/dl) and re-run"
  local tmp; tmp="$(mktemp -d "${CACHE_ROOT}/dl.XXXXXX")"
  trap 'rm -rf "${tmp}"' RETURN
  local b
  for b in kube-apiserver kube-controller-manager kubectl; do
    log "downloading ${b} v${K8S_VERSION}"
    curl -fsSL --retry 3 -o "${tmp}/${b}" "https://dl.k8s.io/release/v${K8S_VERSION}/bin/linux/amd64/${b}" \
      || die "could not download ${b}; install Go and re-run to build it from source instead"
    chmod +x "${tmp}/${b}"
  done
  curl -fsSL --retry 3 -o "${tmp}/etcd.tgz" \
    "https://github.com/etcd-io/etcd/releases/download/v${ETCD_VERSION}/etcd-v${ETCD_VERSION}-linux-amd64.tar.gz" \
    || die "could not download etcd; install Go and re-run to build it from source instead"
  tar -xzf "${tmp}/etcd.tgz" -C "${tmp}" --strip-components=1 "etcd-v${ETCD_VERSION}-linux-amd64/etcd"
  mkdir -p "${BIN_DIR}"
  for b in "${BINARIES[@]}"; do mv -f "${tmp}/${b}" "${BIN_DIR}/${b}"; done
}

[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] || die "only linux-amd64 is supported by this script (found $(uname -s)-$(uname -m))"
start=$(date +%s)
if ! have_all; then
  if command -v go >/dev/null; then
    build_with_go
  else
    log "no Go toolchain found; downloading release binaries instead"
    download_binaries
  fi
  touch "${STAMP}"
  log "control-plane binaries ready in $(( $(date +%s) - start ))s: ${BIN_DIR}"
  "${BIN_DIR}/kube-apiserver" --version >&2 || die "the built kube-apiserver does not run"
fi
if ! have_kubemark; then
  if command -v go >/dev/null; then
    km_start=$(date +%s)
    build_kubemark
    log "kubemark ready in $(( $(date +%s) - km_start ))s: ${BIN_DIR}/kubemark"
    "${BIN_DIR}/kubemark" --version >&2 || die "the built kubemark does not run"
  else
    # No release artifact exists for kubemark; the ITs that need a hollow kubelet fail and say so.
    log "WARNING: kubemark not built: it needs the Go toolchain (https://go.dev/dl); tests that start a HollowNode will fail until it is built"
  fi
fi
echo "${BIN_DIR}"
