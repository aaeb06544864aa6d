#!/usr/bin/env bash
# make bench: Lethe's figures measured beside the limit, in one run, as ratios.
#
# Absolute rates mean nothing on a shared 2-core machine (the same code measured 20x apart on
# two of them), so every Lethe figure is printed beside a reference measured right before it
# in the same run: raw JetStream with plain nats.go (pkg/bus BenchmarkRawPublish and
# BenchmarkRawConsume, the same message size), and for runs the PostgreSQL peer on the same
# 1M-contact data (deploy/bench/pg-peer.sh; skipped with a line saying why when no PostgreSQL
# can be had). Each pair is measured BENCH_RUNS times (default 3); the table shows the median
# of each figure and the median of the per-run ratios, and the peak RSS of each Lethe figure.
#
#   BENCH_RUNS=5 make bench      more repetitions
#   BENCH_SCALE=0 make bench     skip the growth figures (5M contacts; a 500,000-event stream)
#   BENCH_MICRO=1 make bench     also every module's other benchmarks (testing.B), as a table
#   BENCH_DATA=dir               where the 1M and 5M-contact stores are kept between runs
#                                (default .cache/bench; made on first use: ~1 min and ~4 min)
#   MONGODB_URI=…                also the simulation on MongoDB, MONGO_CONTACTS (20,000) contacts
#                                a tenth inactive (the in-memory test harness: a correctness
#                                check of the adapter at size, not a MongoDB figure)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export GOFLAGS=${GOFLAGS:--tags=pebblegozstd} CGO_ENABLED=${CGO_ENABLED:-0}
runs=${BENCH_RUNS:-3}
data=${BENCH_DATA:-$root/.cache/bench}
mkdir -p "$data"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
raw=$work/figures # lines: <figure> <unit> <value>, one per metric per measurement

echo "building the benchmarks..." >&2
(cd pkg && go test -c -o "$work/bus.test" ./bus)
(cd services/lethe && go test -c -o "$work/lethe.test" .)
(cd services/recency && go test -c -o "$work/recency.test" .)
(cd services/scheduler && go test -c -o "$work/scheduler.test" .)

# bench <figure> <package dir> <binary> <benchmark> [flags…]: one measurement, its metrics
# appended to $raw under <figure>.
bench() {
	local figure=$1 dir=$2 bin=$3 name=$4
	shift 4
	echo "  $figure" >&2
	local log=$work/$figure.log
	if ! (cd "$dir" && "$work/$bin" -test.run '^$' -test.bench "^$name\$" -test.benchtime 1x -test.timeout 60m "$@") >"$log" 2>&1; then
		echo "FAILED: $figure ($name)" >&2
		tail -20 "$log" >&2
		exit 1
	fi
	awk -v f="$figure" '/^Benchmark/ { for (i = 3; i < NF; i += 2) print f, $(i+1), $i }' "$log" >>"$raw"
}

pg=yes
pgpeer() { # pgpeer <peer>: one PostgreSQL measurement, as figure pg-<peer>
	[[ $pg == yes ]] || return 0
	local out rc=0
	out=$(deploy/bench/pg-peer.sh "$1" 1 2>"$work/pg.err") || rc=$?
	if [[ $rc == 3 ]]; then
		pg="no: $(tail -1 "$work/pg.err")"
		return 0
	elif [[ $rc != 0 ]]; then
		cat "$work/pg.err" >&2
		exit 1
	fi
	echo "  pg-$1" >&2
	awk '{ print $1, "s/run", $2 }' <<<"$out" >>"$raw"
}

size=1100
for r in $(seq "$runs"); do
	echo "measurement $r of $runs" >&2
	bench send services/lethe lethe.test BenchmarkSend100k
	size=$(awk '$1 == "send" && $2 == "stream-B/event" { v = $3 } END { printf "%d", v }' "$raw")
	bench raw-publish pkg/bus bus.test BenchmarkRawPublish -raw.size "$size"
	bench projection services/recency recency.test BenchmarkProjection
	bench raw-consume pkg/bus bus.test BenchmarkRawConsume -raw.size "$size"
	bench simulation services/scheduler scheduler.test BenchmarkSimulation1M -sim.dataset "$data/sim-1m"
	pgpeer projection
	pgpeer batch
	bench apply services/lethe lethe.test BenchmarkApply10k
done
if [[ ${BENCH_SCALE:-1} != 0 ]]; then
	echo "growth" >&2
	for r in $(seq "$runs"); do
		bench simulation-5m services/scheduler scheduler.test BenchmarkSimulation1M \
			-sim.dataset "$data/sim-5m" -sim.contacts 5000000 -sim.inactive 100000
		bench simulation-1m services/scheduler scheduler.test BenchmarkSimulation1M -sim.dataset "$data/sim-1m"
	done
	bench projection-500k services/recency recency.test BenchmarkProjection -proj.contacts 100000
	bench projection-100k services/recency recency.test BenchmarkProjection
fi
if [[ -n ${MONGODB_URI:-} ]]; then
	# A correctness run at size on a shared in-memory test server: its failure is reported,
	# and the table is printed anyway.
	(bench simulation-mongo services/scheduler scheduler.test BenchmarkSimulation1M \
		-sim.store mongo -sim.contacts "${MONGO_CONTACTS:-20000}" -sim.inactive "$(( ${MONGO_CONTACTS:-20000} / 10 ))") || true
fi

# The table. Ratios are taken per measurement (the Lethe figure over the reference measured
# beside it), then their median.
awk -v runs="$runs" -v pg="$pg" -v mongo="${MONGO_CONTACTS:-20000}" -v when="$(date -u +%Y-%m-%d)" '
function median(key,    n, i, j, t, a) {
	n = split(vals[key], a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	if (n == 0) return ""
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
function add(key, v) { vals[key] = vals[key] (vals[key] == "" ? "" : " ") v; count[key]++ }
function ratios(name, a, b, inverse,    n, i, x, y, r) {
	# per-measurement ratio of figure a to figure b (inverse: b over a, for times)
	n = split(seq[a], x, " "); split(seq[b], y, " ")
	for (i = 1; i <= n; i++) if (x[i] != "" && y[i] != "") add(name, inverse ? y[i] / x[i] : x[i] / y[i])
}
function rss(f) { return median(f SUBSEP "peak-RSS-MB") }
function num(v, d,    s, i, ip, frac, neg) {
	if (v == "") return "-"
	s = sprintf("%." d "f", v); neg = s ~ /^-/; sub(/^-/, "", s)
	ip = s; frac = ""
	if ((i = index(s, ".")) > 0) { ip = substr(s, 1, i - 1); frac = substr(s, i) }
	while (length(ip) > 3) { frac = "," substr(ip, length(ip) - 2) frac; ip = substr(ip, 1, length(ip) - 3) }
	return (neg ? "-" : "") ip frac
}
function row(measure, lethe, ref, ratio, target, mem) {
	printf "| %s | %s | %s | %s | %s | %s |\n", measure, lethe, ref, ratio, target, mem
}
{ key = $1 SUBSEP $2; add(key, $3); seq[$1 " " $2] = seq[$1 " " $2] " " $3 }
END {
	for (k in seq) { s = seq[k]; sub(/^ /, "", s); seq[k] = s }
	ratios("ingest", "send events/s", "raw-publish events/s", 0)
	ratios("projection", "projection events/s", "raw-consume events/s", 0)
	ratios("simulation", "simulation s/run", "pg-projection s/run", 1)
	ratios("simulation-batch", "simulation s/run", "pg-batch s/run", 1)
	ratios("growth-sim", "simulation-5m s/run", "simulation-1m s/run", 0)
	printf "make bench, %s, median of %d measurements (ratios: median of the per-measurement ratios)\n\n", when, runs
	row("measure", "Lethe", "reference, same run", "ratio", "target", "peak RSS (MB)")
	row("---", "---:", "---:", "---:", "---", "---:")
	row("ingest: `lethe send` 100,000 events (" num(median("send" SUBSEP "stream-B/event"), 0) " B each on the stream)",
		num(median("send" SUBSEP "events/s"), 0) " events/s", "raw JetStream publish, msg ids: " num(median("raw-publish" SUBSEP "events/s"), 0) "/s",
		num(median("ingest"), 2) "×", "≥ 0.6×", num(rss("send"), 0) " (serve + send, one process)")
	row("projection: 100,000 events folded (BenchmarkProjection)", num(median("projection" SUBSEP "events/s"), 0) " events/s",
		"raw durable consume + ack: " num(median("raw-consume" SUBSEP "events/s"), 0) "/s", num(median("projection"), 2) "×", "≥ 0.6×", num(rss("projection"), 0))
	if (count["pg-projection" SUBSEP "s/run"] > 0) {
		ref = "PostgreSQL, indexed projection: " num(median("pg-projection" SUBSEP "s/run"), 3) " s"
		rat = num(median("simulation"), 2) "× as fast"
		refb = "PostgreSQL, recompute from ~11M activities: " num(median("pg-batch" SUBSEP "s/run"), 2) " s"
		ratb = num(median("simulation-batch"), 1) "× as fast"
	} else { ref = "PostgreSQL peer skipped (" substr(pg, 5) ")"; rat = "-"; refb = ref; ratb = "-" }
	row("simulation: 1,000,000 contacts / 100,000 inactive, report written (BenchmarkSimulation1M)",
		num(median("simulation" SUBSEP "s/run"), 3) " s", ref, rat, "≥ 1× (≤ the indexed peer)", num(rss("simulation"), 0))
	row("simulation, the same", num(median("simulation" SUBSEP "s/run"), 3) " s", refb, ratb, "-", "")
	row("apply: 10,000 erasures (re-check, key destroyed, audit, outcome, item) (BenchmarkApply10k)",
		num(median("apply" SUBSEP "erasures/s"), 0) " erasures/s", "-", "-", "≥ 20,000/s", num(rss("apply"), 0) " (serve + client)")
	if (count["simulation-5m" SUBSEP "s/run"] > 0) {
		row("growth: simulation over 5,000,000 contacts, the same 100,000 inactive",
			num(median("simulation-5m" SUBSEP "s/run"), 3) " s", "1,000,000 contacts, same run: " num(median("simulation-1m" SUBSEP "s/run"), 3) " s",
			num(median("growth-sim"), 2) "× the time", "≈ 1× (grows with the inactive slice)", num(rss("simulation-5m"), 0))
		p5 = median("projection-500k" SUBSEP "events/s"); p1 = median("projection-100k" SUBSEP "events/s")
		row("growth: projection of a 500,000-event stream", num(p5, 0) " events/s", "100,000-event stream, same run: " num(p1, 0) " events/s",
			(p1 > 0 ? num(p1 / p5, 2) : "-") "× the per-event cost", "≈ 1× (flat in stream length)", num(rss("projection-500k"), 0))
	}
	if (count["simulation-mongo" SUBSEP "s/run"] > 0)
		row("simulation on MongoDB: " num(mongo, 0) " contacts / " num(mongo / 10, 0) " inactive (the in-memory Java test harness: a correctness run, not a MongoDB figure)",
			num(median("simulation-mongo" SUBSEP "s/run"), 3) " s", "-", "-", "-", num(rss("simulation-mongo"), 0))
}' "$raw"

if [[ ${BENCH_MICRO:-0} != 0 ]]; then
	echo
	big='^(BenchmarkSend100k|BenchmarkProjection|BenchmarkSimulation1M|BenchmarkInactiveScan|BenchmarkApply10k|BenchmarkRawPublish|BenchmarkRawConsume|BenchmarkPublishSync)$'
	micro=$work/micro
	for dir in $(go list -m -f '{{.Dir}}'); do
		(cd "$dir" && go test -run '^$' -bench . -skip "$big" -benchtime "${BENCHTIME:-200ms}" -benchmem -timeout 30m ./... 2>&1) |
			grep -E '^(Benchmark|pkg:|FAIL|panic)' >>"$micro" || true
	done
	awk '
	/^pkg:/ { pkg = $2; sub(/.*lethe\//, "", pkg); next }
	/^Benchmark/ {
		name = $1; sub(/-[0-9]+$/, "", name); ns = bop = aop = ""; extra = ""
		for (i = 3; i < NF; i += 2) {
			unit = $(i+1); val = $i
			if (unit == "ns/op") ns = val; else if (unit == "B/op") bop = val; else if (unit == "allocs/op") aop = val
			else extra = extra sprintf("%s %s  ", val, unit)
		}
		printf "%-22s %-42s %14s %12s %10s  %s\n", pkg, name, ns, bop, aop, extra
		next
	}
	/^FAIL/ { print "FAILED: " $0 }
	BEGIN { printf "%-22s %-42s %14s %12s %10s  %s\n", "package", "benchmark", "ns/op", "B/op", "allocs/op", "metrics" }
	' "$micro"
fi
