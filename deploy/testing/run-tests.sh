#!/usr/bin/env bash
# make test: installs what the tests need (the MongoDB harness), then runs every module's tests
# in one `go test` over the workspace, so packages of different modules build and run in
# parallel, then the race detector over the packages whose code is concurrent by design (the
# bus: publish pipeline, batch consumer, dead letters). Uses a real MongoDB when MONGODB_URI is
# set; otherwise starts mongo-java-server on 127.0.0.1. GOTEST_FLAGS adds flags (e.g.
# GOTEST_FLAGS=-v, or -run); RACE=all runs the whole suite under -race (what `make race` does),
# RACE=0 skips the race step.
#
# Why not everything under -race in CI: a cold -race build of nats-server, Pebble and the Mongo
# driver plus the race detector's 5-10x slowdown took CI 1454 s of its 900 s budget.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

step() { printf '== %s (%ds)\n' "$*" "$SECONDS"; }

started=0
if [ -z "${MONGODB_URI:-}" ]; then
	step "mongo harness"
	deploy/testing/mongo-harness.sh start
	started=1
	MONGODB_URI=$(deploy/testing/mongo-harness.sh uri)
	export MONGODB_URI
fi
cleanup() { [ "$started" = 1 ] && MONGODB_URI= deploy/testing/mongo-harness.sh stop || true; }
trap cleanup EXIT

# Test data (JetStream file stores, Pebble directories) on tmpfs when there is one: the tests
# exercise durability by restarts, not by power loss, and fsync on a disk is what made them slow.
if [ -z "${LETHE_TEST_TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	LETHE_TEST_TMPDIR=$(mktemp -d /dev/shm/lethe-test.XXXXXX)
	trap 'cleanup; rm -rf "$LETHE_TEST_TMPDIR"' EXIT
fi
[ -n "${LETHE_TEST_TMPDIR:-}" ] && export TMPDIR=$LETHE_TEST_TMPDIR

# Pure Go: Pebble's zstd from klauspost/compress instead of the cgo DataDog/zstd (its C build
# alone took minutes on a cold cache), and no cgo anywhere in the main run.
case " ${GOFLAGS:-} " in *pebblegozstd*) ;; *) export GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=pebblegozstd" ;; esac
mapfile -t patterns < <(go list -m -f '{{.Dir}}/...')
status=0
if [ "${RACE:-bus}" = all ]; then
	step "go test -race over ${#patterns[@]} modules"
	# shellcheck disable=SC2086 # GOTEST_FLAGS is a list of flags
	go test -race -count=1 -timeout 14m ${GOTEST_FLAGS:-} "${patterns[@]}" || status=1
else
	step "go test over ${#patterns[@]} modules"
	# shellcheck disable=SC2086
	CGO_ENABLED=0 go test -count=1 -timeout 10m ${GOTEST_FLAGS:-} "${patterns[@]}" || status=1
	if [ "${RACE:-bus}" != 0 ]; then
		step "go test -race ./pkg/bus/..."
		# shellcheck disable=SC2086
		go test -race -count=1 -timeout 5m ${GOTEST_FLAGS:-} ./pkg/bus/... || status=1
	fi
fi
step "done, exit $status"
exit $status
