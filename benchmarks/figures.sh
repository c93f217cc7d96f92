#!/usr/bin/env bash
# Every benchmark harness in one command, and one table of the ratios each measures against its own
# baseline in the same run (Go's crypto/tls, a static TLS context, kube-controller-manager, an API
# round trip, whole-object informers, a quiet signer), so that a regression shows at a glance.
#
#   benchmarks/figures.sh                 # every harness with its defaults (about half an hour on 2 cores)
#   benchmarks/figures.sh --quick         # short arguments (below; about five minutes)
#   benchmarks/figures.sh --only manager,heap,handshake   # some of them (names below)
#   benchmarks/figures.sh --no-build      # reuse the last build
#
# Harnesses (name: main class; defaults; --quick arguments):
#   manager   ManagerStartupHarness  100 starts, 100 managers, 10 warm-up; quick: 50 50 5
#   heap      ClusterViewHeapHarness 1000 Pods and Services;                quick: the same
#   handshake HandshakeHarness       5 rounds, 1 warm-up, 3 s, 4 connections; quick: 3 1 2 4
#   native    HandshakeHarness with -Dbench.nativeCrypto=true (NativeCrypto: ACCP first, P-256
#             preferred), Go and the JDK variants only: 5 1 3 4 go,JDK;      quick: 3 1 2 4 go,JDK
#   netty     MtlsLoadHarness        3 rounds, 1 warm-up, 3 s, 4 clients;     quick: 2 1 2 4
#   grpc      GrpcLoadHarness        3 rounds, 1 warm-up, 3 s, 4 clients;     quick: 2 1 2 4
#   verify    CsrVerifyBenchmark     JMH -f 1 -wi 3 -i 5;                     quick: -f 1 -wi 1 -i 2 (1 s each)
#   signer    SignerLoadHarness      1000 CSRs, 8 clients, cache:32,request:32,kcm, 20000 warm-up;
#                                    quick: 1000 8 cache:32,cache:32@c2,kcm 5000 (@c2: the full tiered
#                                    compiler instead of the Deployment's C1 only)
#   flood     SignerFloodHarness     500 CSRs, 3000 RSA-9216 flood, 8 clients, 2 rounds; quick: 200 1000 8 9216 1
#   cold      ColdStartHarness       a workload's time to ready in a fresh JVM, 10 JVMs per variant
#                                    (tiered, c1, cds, c1+cds) and mode; quick: 3 tiered,c1,cds,c1+cds
#
# The harnesses need what they need anyway: the Kubernetes binaries (scripts/k8s-binaries.sh) for
# manager, heap, signer and flood (signer also runs kube-controller-manager), Go for handshake (its
# Go peer is built with `go build`). A harness that fails is reported as failed in the table, with
# the tail of its log, and the others still run. Logs: benchmarks/target/figures/<name>.log.
# The machine's load average is printed with the table: figures from a loaded machine are ratios
# within one run, not absolute rates.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/benchmarks/target/figures"
quick=false
build=true
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=true ;;
    --no-build) build=false ;;
    --only) only="$2"; shift ;;
    --only=*) only="${1#--only=}" ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
all=(manager heap handshake native netty grpc verify signer flood cold)
if [[ -n "$only" ]]; then
  IFS=',' read -r -a selected <<<"$only"
  for s in "${selected[@]}"; do
    [[ " ${all[*]} " == *" $s "* ]] || { echo "unknown harness '$s'; one of: ${all[*]}" >&2; exit 2; }
  done
else
  selected=("${all[@]}")
fi

if $build; then
  echo "[figures] building benchmarks and the modules it depends on (once)" >&2
  (cd "$root" && ./mvnw -B -q -pl benchmarks -am -DskipTests package dependency:build-classpath \
      -Dmdep.outputFile=target/cp.txt) || { echo "[figures] the build failed" >&2; exit 1; }
fi
[[ -f "$root/benchmarks/target/cp.txt" ]] || { echo "[figures] no build found: run without --no-build" >&2; exit 1; }
mkdir -p "$out"
cp="$root/benchmarks/target/classes:$(cat "$root/benchmarks/target/cp.txt")"

args_for() {
  local q="$1" name="$2"
  if [[ "$q" == true ]]; then
    case "$name" in
      manager) echo "50 50 5" ;;
      heap) echo "" ;;
      handshake) echo "3 1 2 4" ;;
      native) echo "3 1 2 4 go,JDK" ;;
      netty|grpc) echo "2 1 2 4" ;;
      verify) echo "-f 1 -wi 1 -i 2 -w 1 -r 1" ;;
      signer) echo "1000 8 cache:32,cache:32@c2,kcm 5000" ;;
      flood) echo "200 1000 8 9216 1" ;;
      cold) echo "3 tiered,c1,cds,c1+cds" ;;
    esac
  else
    case "$name" in
      verify) echo "-f 1 -wi 3 -i 5 -w 1 -r 1" ;;
      native) echo "5 1 3 4 go,JDK" ;;
      *) echo "" ;;
    esac
  fi
}

main_of() {
  case "$1" in
    manager) echo dev.kubemtls.bench.manager.ManagerStartupHarness ;;
    heap) echo dev.kubemtls.bench.signer.ClusterViewHeapHarness ;;
    handshake|native) echo dev.kubemtls.bench.netty.HandshakeHarness ;;
    netty) echo dev.kubemtls.bench.netty.MtlsLoadHarness ;;
    grpc) echo dev.kubemtls.bench.grpc.GrpcLoadHarness ;;
    verify) echo org.openjdk.jmh.Main ;;
    signer) echo dev.kubemtls.bench.signer.SignerLoadHarness ;;
    flood) echo dev.kubemtls.bench.signer.SignerFloodHarness ;;
    cold) echo dev.kubemtls.bench.manager.ColdStartHarness ;;
  esac
}

declare -A status seconds load
for name in "${selected[@]}"; do
  log="$out/$name.log"
  read -r -a harness_args <<<"$(args_for "$quick" "$name")"
  if [[ "$name" == verify ]]; then
    harness_args=(CsrVerifyBenchmark "${harness_args[@]}")
  fi
  echo "[figures] $name: $(main_of "$name") ${harness_args[*]} (log: $log; load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  load[$name]=$(cut -d' ' -f1 /proc/loadavg)
  start=$(date +%s)
  jvm=()
  [[ "$name" == native ]] && jvm=(-Dbench.nativeCrypto=true)
  # A variant cache:32@c2 runs the signer with the full tiered compiler instead of the Deployment's C1 only.
  [[ "$name" == signer ]] && jvm=(-Dbench.signer.jvm.c2=-XX:TieredStopAtLevel=4)
  (cd "$root" && java "${jvm[@]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$cp" "$(main_of "$name")" \
      "${harness_args[@]}") >"$log" 2>&1
  rc=$?
  seconds[$name]=$(( $(date +%s) - start ))
  if [[ $rc -eq 0 ]]; then status[$name]=ok; else status[$name]="failed (exit $rc)"; tail -5 "$log" >&2; fi
done

# ---- one table ----
row() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"; }
echo
echo "kube-mtls figures: $(nproc) cores, $(java -version 2>&1 | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)," \
  "$(date -u +%Y-%m-%dT%H:%MZ)$($quick && echo ', --quick')"
echo
echo "| harness | ratio (against the baseline of the same run) | value | aim |"
echo "|---|---|---:|---|"
for name in "${selected[@]}"; do
  log="$out/$name.log"
  if [[ "${status[$name]}" != ok ]]; then
    row "$name" "${status[$name]}, see $log" "-" "-"
    continue
  fi
  case "$name" in
    manager)
      awk -F'[: ]+' '/^ratio start\/RTT/ {printf "| manager | start to ready p50 / ConfigMap create+get p50 | %s x | - |\n", $4}
        /^start\(\) to ready/ {for (i=1;i<=NF;i++) if ($i=="p50") printf "| manager | start to ready p50 (absolute) | %s ms | <= 50 ms |\n", $(i+1)}
        /^heap per started manager/ {for (i=1;i<=NF;i++) if ($i=="KiB") printf "| manager | heap per started manager (absolute) | %s KiB | <= 100 KiB |\n", $(i-1)}' "$log" ;;
    heap)
      awk '/informers keeping whole objects/ {gsub(/[()]/,""); printf "| heap | approver caches / whole-object informers | %s | - |\n", $NF}' "$log" ;;
    handshake|native)
      awk -F'|' -v h="$name" '/^variant/ {on=1; next} on && NF>=3 {split($1,a,/  +/); name=a[1]; split($2,b," "); split($3,c," ");
          if (h == "native") name = name " + NativeCrypto";
          if (name == "go in-process") next;
          aim = (name ~ /^JDK/) ? "JDK path >= 0.8" : "-";
          if (b[1]!="-") printf "| handshake | %s, handshakes per CPU-s, both ends / Go | %s | %s |\n", name, b[1], aim;
          if (b[2]!="-") printf "| handshake | %s, per server CPU-s / Go | %s | - |\n", name, b[2];
          if (c[1]!="-" && name !~ /static/) printf "| handshake | %s, per CPU-s / static context | %s | - |\n", name, c[1]}' "$log" ;;
    netty|grpc)
      awk -F'|' -v h="$name" '/^server / {on=1; next} on && NF==2 && $1 !~ /static/ {split($1,a,/  +/); split($2,r," ");
          printf "| %s | %s, handshakes per CPU-s / static | %s | - |\n", h, a[1], r[2];
          printf "| %s | %s, requests per CPU-s / static | %s | - |\n", h, a[1], r[4]}' "$log" ;;
    verify)
      awk '$1 ~ /CsrVerifyBenchmark\./ && $2=="avgt" {n=$1; sub(/.*\./,"",n); s[n]=$4; order[++k]=n}
        END {b=s["plainJdkVerify"];
          for (i=1;i<=k;i++) if (order[i] != "plainJdkVerify") printf "| verify | %s / plain JDK verify (plainJdkVerify) | %.2f | - |\n", order[i], (b>0? s[order[i]]/b : 0)}' "$log"
      # JMH exits 0 when a benchmark throws; name the ones that did.
      grep -o 'jmh_generated\.CsrVerifyBenchmark_[A-Za-z0-9]*_jmhTest' "$log" | sort -u \
        | sed 's/.*CsrVerifyBenchmark_\(.*\)_jmhTest/| verify | \1 | failed, see the log | - |/' ;;
    signer)
      awk -F'|' '/^ratios against kcm, means/ {exit} /^ratios against kcm/ {on=1; next} on && /^\| [a-z]/ && $2 !~ /signer|kcm/ {
          v=$2; gsub(/ /,"",v);
          printf "| signer | %s issued/s / KCM | %s | >= 1.0 |\n", v, $3+0;
          printf "| signer | %s p99 / KCM | %s | <= 1.0 |\n", v, $5+0;
          printf "| signer | %s signer CPU per certificate / KCM | %s | <= 1.0 |\n", v, $7+0}' "$log"
      # The same from the mean of each variant's last bursts (steadier than one burst on a shared machine).
      awk -F'|' '/^ratios against kcm, means/ {on=1; next} on && /^\| [a-z]/ && $2 !~ /signer|kcm/ {
          v=$2; gsub(/ /,"",v);
          printf "| signer | %s mean of last %s bursts: issued/s / KCM | %s | >= 1.0 |\n", v, $3+0, $4+0;
          printf "| signer | %s mean of last %s bursts: p99 / KCM | %s | <= 1.0 |\n", v, $3+0, $5+0;
          printf "| signer | %s mean of last %s bursts: CPU per certificate / KCM | %s | <= 1.0 |\n", v, $3+0, $6+0}' "$log"
      # First round after the signer JVM started against the measured (warm) burst, per variant.
      awk '/\(warm-up 1\// {v=$1; for (i=1;i<=NF;i++) if ($i=="signer") cold[v]=$(i+1)}
        /^[a-z]+:[0-9]+(@[A-Za-z0-9]+)? / && !/warm-up/ {for (i=1;i<=NF;i++) if ($i=="signer") warm[$1]=$(i+1)}
        END {for (v in cold) if (warm[v]>0) printf "| signer | %s first %s CSRs CPU / warm CPU per certificate | %.2f | <= 1.5 |\n", v, "round of", cold[v]/warm[v]}' "$log" ;;
    flood)
      awk '/^round [0-9]+: p99 flood\/quiet/ {r=$2; sub(/:/,"",r); x=$5; sub(/x/,"",x); printf "| flood | round %s ordinary p99 under a flood / quiet | %s | <= 2 |\n", r, x}' "$log" ;;
    cold)
      awk -F'|' '/^\| JVM \|/ {on=1; next} on && /^\| [a-z]/ {v=$2; gsub(/ /,"",v); split($5,r,","); gsub(/ /,"",r[1]); gsub(/ /,"",r[2]);
          printf "| cold | %s: KubeMtls ready in a fresh JVM, wall ms (CPU ms) | %s (%s) | - |\n", v, r[1], r[2];
          printf "| cold | %s: ready / fabric8 client + 1 GET, wall | %s | - |\n", v, $6+0;
          printf "| cold | %s: ready wall / tiered | %s | - |\n", v, $7+0}' "$log" ;;
  esac
done
echo
for name in "${selected[@]}"; do
  printf '%s: %s in %s s (load average %s at its start); ' "$name" "${status[$name]}" "${seconds[$name]}" "${load[$name]}"
done
echo
