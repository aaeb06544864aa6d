#!/usr/bin/env bash
# make test: installs what the tests need (the MongoDB harness), then runs every module's tests
# in one `go test` over the workspace, so packages of different modules build and run in
# parallel. Uses a real MongoDB when MONGODB_URI is set; otherwise starts mongo-java-server on
# 127.0.0.1. GOTEST_FLAGS adds flags (e.g. GOTEST_FLAGS=-v, or -run), RACE=0 drops -race.
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
cleanup() { [ "$started" = 1 ] && deploy/testing/mongo-harness.sh stop || true; }
trap cleanup EXIT

race=-race
[ "${RACE:-1}" = 0 ] && race=
mapfile -t patterns < <(go list -m -f '{{.Dir}}/...')
step "go test $race over ${#patterns[@]} modules"
status=0
# shellcheck disable=SC2086 # GOTEST_FLAGS is a list of flags
go test $race -count=1 -timeout 12m ${GOTEST_FLAGS:-} "${patterns[@]}" || status=1
step "done, exit $status"
exit $status
