#!/usr/bin/env bash
# make demo: a synthetic institution (deploy/demo, pkg/demo) loaded with `lethe send` into a
# `lethe serve` started here, then a simulation run and its summary, and the URLs to open.
# The server keeps running until Ctrl-C. Settings (environment):
#   DEMO_DIR       ./lethe-demo       the history, the server's data (replaced at each demo) and its log
#   DEMO_HTTP      127.0.0.1:8080     where lethe serve listens
#   DEMO_CONTACTS  20000              how many contacts
#   DEMO_SEED      1                  the generator's seed
#   DEMO_KEEP      1                  0: stop the server once the summary is printed
set -euo pipefail
cd "$(dirname "$0")/../.."

DIR=${DEMO_DIR:-./lethe-demo}
HTTP=${DEMO_HTTP:-127.0.0.1:8080}
CONTACTS=${DEMO_CONTACTS:-20000}
SEED=${DEMO_SEED:-1}
KEEP=${DEMO_KEEP:-1}
INST=demo
BASE=http://$HTTP
mkdir -p "$DIR"

echo "== generating $CONTACTS contacts (seed $SEED) into $DIR/history.ndjson"
go run ./deploy/demo --seed "$SEED" --contacts "$CONTACTS" --institution "$INST" \
	--output "$DIR/history.ndjson" --stats "$DIR/stats.json"

# A fresh store each time: the history is dated from today, and an old store would mix two.
rm -rf "$DIR/data" "$DIR/history.ndjson.send-progress"
echo "== starting lethe serve on $BASE (data $DIR/data, log $DIR/serve.log)"
./bin/lethe serve --data "$DIR/data" --http "$HTTP" --nats-listen 127.0.0.1:0 >"$DIR/serve.log" 2>&1 &
PID=$!
stop() {
	if kill -0 "$PID" 2>/dev/null; then
		kill -INT "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
}
trap stop EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 300); do
	if curl -fsS "$BASE/readyz" >/dev/null 2>&1; then break; fi
	if ! kill -0 "$PID" 2>/dev/null; then
		echo "lethe serve stopped:" >&2
		cat "$DIR/serve.log" >&2
		exit 1
	fi
	sleep 0.2
done
curl -fsS "$BASE/readyz" >/dev/null
TOKEN=$(sed -n 's/^ *LETHE_TOKEN=//p' "$DIR/serve.log" | head -1)
export LETHE_SERVER=$BASE LETHE_TOKEN=$TOKEN

echo "== sending the history"
./bin/lethe send "$DIR/history.ndjson"

# The projection folds asynchronously: wait until recency's consumer has nothing pending,
# as its lag on /metrics says.
echo "== waiting for the projection (lethe_bus_consumer_pending on /metrics)"
lag() {
	curl -fsS "$BASE/metrics" | awk '/^lethe_bus_consumer_(ack_)?pending\{/ && /consumer="recency"/ {s += $NF} END {print s + 0}'
}
while [ "$(lag)" != "0" ]; do sleep 1; done

echo "== a simulation as of today"
OUT=$(./bin/lethe runs start --wait "$INST")
RUN=${OUT%%$'\n'*}
./bin/lethe runs show "$INST" "$RUN"

cat <<EOT

== Lethe is running with a demo institution "$INST" ($(sed -n 's/.*"Contacts": \([0-9]*\).*/\1/p' "$DIR/stats.json") contacts)
  API          $BASE/v1/institutions/$INST/runs/$RUN
  console      $BASE/ui/i/$INST/runs/$RUN (sign in with the token below)
  OpenAPI      $BASE/v1/openapi.json
  metrics      $BASE/metrics
  token        export LETHE_SERVER=$BASE LETHE_TOKEN=$TOKEN
  next         ./bin/lethe runs items $INST $RUN | less
               ./bin/lethe runs apply --wait $INST $RUN
               ./bin/lethe contacts show $INST c-000001
EOT
if [ "$KEEP" = "0" ]; then exit 0; fi
echo "Ctrl-C stops the server."
wait "$PID"
