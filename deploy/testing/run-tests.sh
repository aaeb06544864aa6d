#!/usr/bin/env bash
# make test: installs what the tests need (Chromium, the MongoDB harness), then runs every module's tests
# in one `go test` over the workspace, so packages of different modules build and run in
# parallel, then the race detector over the packages whose code is concurrent by design (the
# bus: publish pipeline, batch consumer, dead letters). Uses a real MongoDB when MONGODB_URI is
# set; otherwise starts mongo-java-server on 127.0.0.1. GOTEST_FLAGS adds flags (e.g.
# GOTEST_FLAGS=-v, or -run); RACE=all runs the whole suite under -race (what `make race` does),
# RACE=0 skips the race step; FUZZ_API=0 skips the schema fuzzer (deploy/testing/schemathesis.sh,
# FUZZ_TIME seconds, default 60).
#
# Why not everything under -race in CI: a cold -race build of nats-server, Pebble and the Mongo
# driver plus the race detector's slowdown (the send resume test: 75 s in a full -race run,
# 9.7 s alone without) took CI 1454 s of its 900 s budget.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

step() { printf '== %s (%ds)\n' "$*" "$SECONDS"; }

step "chromium (the console's browser tests)"
deploy/testing/chromium.sh

started=0
if [ -z "${MONGODB_URI:-}" ]; then
	step "mongo harness"
	deploy/testing/mongo-harness.sh start
	started=1
	MONGODB_URI=$(deploy/testing/mongo-harness.sh uri)
	export MONGODB_URI
fi
# Test data (JetStream file stores, Pebble directories) on tmpfs when there is one: the tests
# exercise durability by restarts, not by power loss, so fsyncs need not reach a disk.
tmp=""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	tmp=$(mktemp -d /dev/shm/lethe-test.XXXXXX)
	export TMPDIR=$tmp
fi
# The harness's stop does nothing while MONGODB_URI is set (a server it did not start), and we
# exported it: clear it for the stop, or every run leaks a JVM.
cleanup() {
	[ "$started" = 1 ] && MONGODB_URI='' deploy/testing/mongo-harness.sh stop
	[ -n "$tmp" ] && rm -rf "$tmp"
	true
}
trap cleanup EXIT

mapfile -t patterns < <(go list -m -f '{{.Dir}}/...')
status=0
if [ "${RACE:-bus}" = all ]; then
	step "go test -race over ${#patterns[@]} modules"
	# shellcheck disable=SC2086 # GOTEST_FLAGS is a list of flags
	go test -race -count=1 -timeout 14m ${GOTEST_FLAGS:-} "${patterns[@]}" || status=1
else
	step "go test over ${#patterns[@]} modules"
	# No cgo: Pebble then takes its pure-Go zstd (klauspost/compress) instead of compiling the
	# C of DataDog/zstd on every cold cache. (make exports the
	# pebblegozstd tag that does the same with cgo on, for the race runs and the binary.)
	# shellcheck disable=SC2086
	CGO_ENABLED=0 go test -count=1 -timeout 10m ${GOTEST_FLAGS:-} "${patterns[@]}" || status=1
	if [ "${FUZZ_API:-1}" != 0 ]; then
		step "schema fuzzer against a live lethe serve (${FUZZ_TIME:-60}s)"
		deploy/testing/schemathesis.sh || status=1
	fi
	if [ "${RACE:-bus}" != 0 ]; then
		step "go test -race ./pkg/bus/..."
		# shellcheck disable=SC2086
		go test -race -count=1 -timeout 5m ${GOTEST_FLAGS:-} ./pkg/bus/... || status=1
	fi
fi
step "done, exit $status"
exit $status
