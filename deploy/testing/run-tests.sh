#!/usr/bin/env bash
# make test: installs what the tests need (the MongoDB harness), then runs every module's tests.
# Uses a real MongoDB when MONGODB_URI is set; otherwise starts mongo-java-server on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

started=0
if [ -z "${MONGODB_URI:-}" ]; then
	deploy/testing/mongo-harness.sh start
	started=1
	MONGODB_URI=$(deploy/testing/mongo-harness.sh uri)
	export MONGODB_URI
fi
cleanup() { [ "$started" = 1 ] && deploy/testing/mongo-harness.sh stop || true; }
trap cleanup EXIT

status=0
for dir in $(go list -m -f '{{.Dir}}'); do
	echo "=== $(realpath --relative-to="$root" "$dir")"
	(cd "$dir" && go test -race -count=1 -timeout 10m ${GOTEST_FLAGS:-} ./...) || status=1
done
exit $status
