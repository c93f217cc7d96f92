#!/usr/bin/env bash
# Runs the version-sensitive integration tests on other Kubernetes releases of the supported window
# (the whole suite runs on the default release, the parent pom's kube-mtls.k8s.version).
#
#   scripts/version-window.sh 1.35.4 1.36.3     # each release in turn; binaries built or found first
#
# Version-sensitive: whatever depends on which certificates.k8s.io APIs a release serves and how
# (PodCertificateRequests with pkixPublicKey or stubPKCS10Request, ClusterTrustBundles in v1beta1 or
# v1, the control plane's flags), plus CSR issuance and the signed-bundle trust path end to end.
# Each release gets its own control plane (KUBE_MTLS_K8S_VERSION for the whole Maven run), and the
# run fails, naming the release, if any of them fails.
set -euo pipefail
cd "$(dirname "$0")/.."
(($#)) || { echo "usage: scripts/version-window.sh <k8s-version>..." >&2; exit 2; }

VERSION_ITS="ControlPlaneSmokeIT,HollowNodeIT,CertificateIssuerIT,KubeMtlsIT,ConfigMapTrustSourceIT"
VERSION_ITS+=",ClusterTrustBundleTrustSourceIT,SignerIT,PodCertificateIT,ClusterTrustBundlePublisherIT"
VERSION_ITS+=",CaRotationIT,TrustBundlePublisherIT,PodCertificateKubeletIT,TrustIntegrityIT"
MODULES="mtls-testkit,mtls-core,mtls-kubernetes,mtls-signer,mtls-netty"

for version in "$@"; do
  start=$(date +%s)
  echo "[version-window] Kubernetes ${version}: building or finding the binaries" >&2
  KUBE_MTLS_K8S_VERSION="${version}" bash scripts/k8s-binaries.sh >/dev/null
  echo "[version-window] Kubernetes ${version}: binaries ready after $(( $(date +%s) - start ))s; running ${VERSION_ITS}" >&2
  # Unit tests ran in the main build; here only the version-sensitive ITs, each module's stale
  # reports removed so that Failsafe judges this run alone.
  rm -rf mtls-*/target/failsafe-reports
  if ! KUBE_MTLS_K8S_VERSION="${version}" ./mvnw -B verify -pl "${MODULES}" \
      -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false \
      -Dit.test="${VERSION_ITS}" -Dfailsafe.failIfNoSpecifiedTests=false \
      -Dkube-mtls.native-tls-its.skip=true; then
    echo "[version-window] FAILED on Kubernetes ${version}" >&2
    exit 1
  fi
  echo "[version-window] Kubernetes ${version}: passed in $(( $(date +%s) - start ))s" >&2
done
