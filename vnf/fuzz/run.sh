#!/usr/bin/env bash
# Builds and runs every fuzz target of the project for SECONDS seconds each (docs/testing.md).
#
#   vnf/fuzz/run.sh SECONDS [TARGET...]      (default: every target)
#
# Targets: pipeline, dns_query, dns_reply (vnf/fuzz), toml_config, cr_render (config/fuzz).
# Installs cargo-fuzz when missing. Builds with cargo-fuzz's instrumentation into the workspace's
# target directory (target/x86_64-unknown-linux-gnu/release), without a sanitizer (the code under
# test has no unsafe; a panic, a hang over 10 s, an RSS over 2 GiB or a lost mbuf is a failure).
# The growing corpus lives in target/fuzz/corpus/TARGET (kept between runs), the committed seeds
# in */fuzz/seeds/TARGET; a crashing input is written to target/fuzz/artifacts/TARGET/ and the
# script exits non-zero.
set -euo pipefail

SECONDS_EACH=${1:?usage: run.sh SECONDS [TARGET...]}
shift
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN_DIR=$TARGET_DIR/$TRIPLE/release
ALL="vnf:pipeline vnf:dns_query vnf:dns_reply config:toml_config config:cr_render"

if ! $CARGO fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  $CARGO install cargo-fuzz --locked
fi
# cargo-fuzz passes nightly-only flags (-Z...) to rustc in some modes; the stable toolchain
# accepts them with RUSTC_BOOTSTRAP=1. With `-s none` it only needs stable flags, but the
# variable keeps the script working with other cargo-fuzz versions.
export RUSTC_BOOTSTRAP=1

selected=()
if [ $# -gt 0 ]; then
  for t in "$@"; do
    m=$(tr ' ' '\n' <<<"$ALL" | grep ":$t\$" || true)
    [ -n "$m" ] || { echo "fuzz: unknown target $t (known: $ALL)" >&2; exit 2; }
    selected+=("$m")
  done
else
  read -r -a selected <<<"$ALL"
fi

# Build each crate's targets once.
for crate in vnf config; do
  if [[ " ${selected[*]} " == *" $crate:"* ]]; then
    echo "fuzz: building $crate/fuzz"
    (cd "$ROOT/$crate" && $CARGO fuzz build -s none --target-dir "$TARGET_DIR")
  fi
done

failed=()
for entry in "${selected[@]}"; do
  crate=${entry%%:*}
  t=${entry#*:}
  corpus=$TARGET_DIR/fuzz/corpus/$t
  artifacts=$TARGET_DIR/fuzz/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  echo "fuzz: $t for ${SECONDS_EACH}s"
  log=$TARGET_DIR/fuzz/$t.log
  rc=0
  "$BIN_DIR/$t" "$corpus" "$ROOT/$crate/fuzz/seeds/$t" \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
  # libFuzzer's summary: executions, speed, coverage, corpus.
  { grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|Done [0-9]+ runs' "$log" || true; } |
    tr '\n' ' ' | sed "s/^/fuzz: $t: /"
  echo
  if [ "$rc" != 0 ]; then
    echo "fuzz: $t FAILED (exit $rc); log $log; crashing input:" >&2
    ls -1 "$artifacts" >&2 || true
    grep -E -B2 -A20 'panicked|ERROR: libFuzzer|deadly signal|timeout' "$log" | head -60 >&2 || true
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#selected[@]} target(s) ran ${SECONDS_EACH}s each without a failure"
