#!/usr/bin/env bash
# The schema fuzzer (make test runs it; make fuzz-api alone), after a producer written with the
# CloudEvents Python SDK: schemathesis, from PyPI, against
# a live lethe serve seeded with a few contacts, for FUZZ_TIME seconds (default 60). It fails on
# any 5xx and on any answer the OpenAPI document does not describe (every check but the
# stateful ones schemathesis cannot seed here). The server runs on loopback, its data in a
# temporary directory. The seed is fixed (FUZZ_SEED, default 1) so that a failure is
# reproduced by running it again; pass FUZZ_SEED=$RANDOM to explore. One worker: with two, Python 3.11's ast module, which hypothesis calls to
# describe its strategies, failed now and then with "AST constructor recursion depth
# mismatch" (an error of the tool, not a finding).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
venv="$root/.cache/st-venv"
version=4.32.5
sdk=1.13.0 # the CloudEvents Python SDK, for deploy/testing/sdk/python_producer.py
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version" ||
	! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('cloudevents') == '$sdk'" 2>/dev/null; then
	python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" "cloudevents==$sdk"
fi
make --no-print-directory build >/dev/null
data=$(mktemp -d)
out="$data/serve.log"
./bin/lethe serve --http 127.0.0.1:0 --nats-listen 127.0.0.1:0 --data "$data/lethe" >"$out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do
	grep -q 'lethe listening on' "$out" && break
	kill -0 "$pid" 2>/dev/null || { cat "$out"; exit 1; }
	sleep 0.1
done
server=$(grep -o 'lethe listening on http://[^ ]*' "$out" | sed 's/lethe listening on //')
LETHE_TOKEN=$(grep -o 'LETHE_TOKEN=[^ ]*' "$out" | cut -d= -f2)
export LETHE_TOKEN LETHE_SERVER=$server
for _ in $(seq 1 300); do
	curl -fs "$server/readyz" >/dev/null && break
	sleep 0.1
done
./bin/lethe send --state "$data/seed.send-progress" deploy/testing/fuzz/seed.ndjson >/dev/null
# A producer as the CloudEvents Python SDK writes one, on the same server.
"$venv/bin/python" deploy/testing/sdk/python_producer.py
cd deploy/testing/fuzz
"$venv/bin/st" run "$server/v1/openapi.json" --max-time "${FUZZ_TIME:-60}" --workers 1 \
	--seed "${FUZZ_SEED:-1}" --no-color "$@"
