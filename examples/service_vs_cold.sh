#!/usr/bin/env bash
# Proof-tier latency on a warm `zkinfer serve` against a cold `zkinfer prove`
# (new process, no cached keys), measured in one run and interleaved so both
# see the same machine load. Also the inference tier's latency.
#
#   cargo build --release --bin zkinfer --example load
#   bash examples/service_vs_cold.sh [MODEL] [ROUNDS]
#
# Cold runs use a fresh cache directory each time: "no keys" keeps the Dory
# setup cached (only the model's keys are built), "nothing cached" derives the
# setup too. The service listens on a free loopback port and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-authorization}
rounds=${2:-5}
zk=target/release/zkinfer
load=target/release/examples/load
onnx=models/$model/network.onnx
input=models/$model/input.json
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

export ZKINFER_CACHE_DIR=$work/cache
$zk preprocess "$onnx" > /dev/null   # the setup, for "no keys" runs and the service
$zk serve "$onnx" --addr 127.0.0.1:0 --workers 1 --queue 4 > "$work/serve.out" &
server=$!
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/^listening on http:\/\/\([^ ]*\).*/\1/p' "$work/serve.out")

wall() {
  python3 -c 'import subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(time.perf_counter() - t)' "$@"
}
cold_nokeys=(); cold_nothing=(); warm=()
for i in $(seq "$rounds"); do
  fresh=$work/nokeys-$i; mkdir -p "$fresh"; cp "$work"/cache/dory-setup-* "$fresh"/
  cold_nokeys+=("$(ZKINFER_CACHE_DIR=$fresh wall $zk prove "$onnx" --input "$input" --proof "$work/p")")
  cold_nothing+=("$(ZKINFER_CACHE_DIR=$work/empty-$i wall $zk prove "$onnx" --input "$input" --proof "$work/p")")
  warm+=("$($load --addr "$addr" --model "$model" --input "$input" --tier proof --requests 1 --concurrency 1 --json \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_ms"]["median"] / 1e3)')")
done
inference=$($load --addr "$addr" --model "$model" --input "$input" --tier inference --requests 500 --concurrency 1 --json \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_ms"]["median"])')
python3 - "$model" "$inference" "${cold_nokeys[*]}" "${cold_nothing[*]}" "${warm[*]}" <<'PY'
import statistics, sys
model, inference = sys.argv[1], float(sys.argv[2])
nokeys, nothing, warm = ([float(x) for x in a.split()] for a in sys.argv[3:6])
m = statistics.median
print(f"{model}: {len(warm)} rounds")
print(f"  cold prove, no keys cached      median {m(nokeys):.3f} s  {[round(x, 3) for x in nokeys]}")
print(f"  cold prove, nothing cached      median {m(nothing):.3f} s  {[round(x, 3) for x in nothing]}")
print(f"  warm service, proof tier        median {m(warm):.3f} s  {[round(x, 3) for x in warm]}")
print(f"  ratio cold(no keys) / warm      {m(nokeys) / m(warm):.2f}x")
print(f"  ratio cold(nothing) / warm      {m(nothing) / m(warm):.2f}x")
print(f"  inference tier                  median {inference:.3f} ms (500 requests)")
PY
