#!/usr/bin/env bash
# make bench: runs every module's benchmarks (testing.B) and prints one table.
# The end-to-end ones (BIG: 100,000 events sent, a 100,000-event projection, a simulation over
# 1,000,000 contacts, a 1,000,000-contact scan) run once each (BIGTIME, default 1x); the others
# for BENCHTIME (default 200ms) so that their per-op figures mean something.
# BENCH selects benchmarks (a go test -bench regexp; then all run for BENCHTIME, default 1x).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
big='^(BenchmarkSend100k|BenchmarkProjection|BenchmarkSimulation1M|BenchmarkInactiveScan)$'
for dir in $(go list -m -f '{{.Dir}}'); do
	(cd "$dir" && if [[ -n ${BENCH:-} ]]; then
		go test -run '^$' -bench "$BENCH" -benchtime "${BENCHTIME:-1x}" -benchmem -timeout 60m ./... 2>&1
	else
		go test -run '^$' -bench . -skip "$big" -benchtime "${BENCHTIME:-200ms}" -benchmem -timeout 30m ./... 2>&1
		go test -run '^$' -bench "$big" -benchtime "${BIGTIME:-1x}" -benchmem -timeout 60m ./... 2>&1
	fi) \
		| grep -E '^(Benchmark|pkg:|ok|FAIL|---|panic)' >>"$raw" || true
done
awk '
/^pkg:/ { pkg = $2; sub(/.*lethe\//, "", pkg); next }
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	extra = ""
	for (i = 3; i < NF; i += 2) {
		unit = $(i+1); val = $i
		if (unit == "ns/op") ns = val
		else if (unit == "B/op") bop = val
		else if (unit == "allocs/op") aop = val
		else extra = extra sprintf("%s %s  ", val, unit)
	}
	printf "%-22s %-42s %14s %12s %10s  %s\n", pkg, name, ns, bop, aop, extra
	next
}
/^FAIL/ { print "FAILED: " $0 }
BEGIN { printf "%-22s %-42s %14s %12s %10s  %s\n", "package", "benchmark", "ns/op", "B/op", "allocs/op", "metrics" }
' "$raw"
