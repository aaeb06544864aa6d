#!/usr/bin/env bash
# make bench: runs every module's benchmarks (testing.B) once each and prints one table.
# BENCH selects benchmarks (a go test -bench regexp, default all); BENCHTIME sets -benchtime.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
for dir in $(go list -m -f '{{.Dir}}'); do
	(cd "$dir" && go test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-1x}" -benchmem ./... 2>&1) \
		| grep -E '^(Benchmark|pkg:|ok|FAIL|---)' >>"$raw" || true
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
