#!/bin/bash
# Instructions per packet of one benchmark path, counted by callgrind (repeatable whatever else
# the machine runs, unlike wall-clock figures). perf/README.md, "Instruction counts".
#
#   perf/scripts/callgrind-path.sh PATH [OUTDIR] [EGRESS_VNF]
#
# 1. `bench --keep-inputs` writes the path's capture, neighbour announcements and VNF config
#    (a 1 s run of both sides, as a normal run);
# 2. egress-vnf runs under `valgrind --tool=callgrind --instr-atstart=no` on those inputs;
#    DELAY seconds (default 6) after "forwarding started" the script turns instrumentation on
#    for WINDOW seconds (default 6) and dumps;
# 3. cgsum.py prints the worker thread's instructions per packet (divided by the calls of
#    `Egress::process`) and the largest functions, inclusive, per packet.
# Under valgrind the loop runs ~50 times slower, so the millisecond timer walks run on nearly
# every burst: compare `Egress::process`, not only the total.
set -euo pipefail
P=${1:?usage: callgrind-path.sh PATH [OUTDIR] [EGRESS_VNF]}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${2:-$ROOT/target/callgrind/$P}
BIN=${3:-$TARGET/release/egress-vnf}
IN=$OUT/input
rm -rf "$OUT"; mkdir -p "$IN"
"$TARGET/release/bench" --paths "$P" --seconds 1 --warmup 1 --runs 1 --no-build \
    --vnf "$BIN" --keep-inputs "$IN" --out "$OUT/bench.json" > "$OUT/bench.log" 2>&1 \
    || { cat "$OUT/bench.log"; exit 1; }
PREFIX=callgrind-$$
sed -e "s/\"--file-prefix\", \"[^\"]*\"/\"--file-prefix\", \"$PREFIX\"/" \
    -e "s#^socket = .*#socket = \"$OUT/control.sock\"#" "$IN/vnf.toml" > "$OUT/vnf.toml"
ARGS=(--config "$OUT/vnf.toml" --metrics-listen off -- --vdev "net_pcap0,rx_pcap=$IN/$P.pcap,infinite_rx=1")
if [ -f "$IN/neighbours.pcap" ]; then
    ARGS+=(--vdev "net_pcap1,rx_pcap=$IN/neighbours.pcap")
else
    ARGS+=(--vdev "net_null0,no-rx=1")
fi
valgrind --tool=callgrind --separate-threads=yes --instr-atstart=no \
    --callgrind-out-file="$OUT/cg.out.%p" "$BIN" "${ARGS[@]}" > "$OUT/vnf.log" 2>&1 &
VP=$!
cleanup() { kill -9 "$VP" 2>/dev/null || true; rm -rf "/var/run/dpdk/$PREFIX"; }
trap cleanup EXIT
for _ in $(seq 1 600); do
    grep -q "forwarding started" "$OUT/vnf.log" && break
    kill -0 "$VP" 2>/dev/null || { cat "$OUT/vnf.log"; exit 1; }
    sleep 0.5
done
sleep "${DELAY:-6}"
callgrind_control -i on "$VP" > /dev/null
sleep "${WINDOW:-6}"
callgrind_control -d "$VP" > /dev/null
callgrind_control -i off "$VP" > /dev/null
kill -INT "$VP"; sleep 3
python3 "$ROOT/perf/scripts/cgsum.py" "$OUT"
