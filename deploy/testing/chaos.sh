#!/usr/bin/env bash
# make chaos: the fault-injection suite (services/lethe/chaos_test.go) at a large size. It
# builds bin/lethe, then kills that binary's `lethe serve` with SIGKILL CHAOS_KILLS times
# during a backfill of CHAOS_CONTACTS contacts and CHAOS_KILLS times during the apply of
# their retention run, and prints what it measured (events sent, kills, lost, duplicated,
# items without result, erased twice, chain ok). CHAOS_SEED replays a run: the history and
# the kill points come from it, and every run prints the one it used.
#
# Data lives under TMPDIR (tmpfs when there is one): a SIGKILL kills the process, not the
# machine, so the page cache survives and fsyncs do not change what the suite can see. Power
# loss is what --nats-sync is about (README, "Durability"); this suite does not simulate it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CHAOS_CONTACTS=${CHAOS_CONTACTS:-5000} CHAOS_KILLS=${CHAOS_KILLS:-5}
# The tests' one deadline (testkit.Eventually, a minute by default) sized for an apply of
# thousands of erasures on a loaded machine.
export LETHE_TEST_WAIT=${LETHE_TEST_WAIT:-10m}
[ -n "${CHAOS_SEED:-}" ] && export CHAOS_SEED
tmp=""
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	tmp=$(mktemp -d /dev/shm/lethe-chaos.XXXXXX)
	export TMPDIR=$tmp
fi
trap '[ -n "$tmp" ] && rm -rf "$tmp"' EXIT
make --no-print-directory build
LETHE_BIN="$root/bin/lethe"
export LETHE_BIN
mkdir -p .cache
log="$root/.cache/chaos.log"
cd "$root"
# The whole verbose output goes to .cache/chaos.log; the terminal gets the kills, the
# summaries and every failed check.
set +e
CGO_ENABLED=0 go test -count=1 -timeout "${CHAOS_TIMEOUT:-60m}" -run '^TestChaos' -v ./services/lethe 2>&1 | tee "$log" |
	grep -E '^(--- |ok|FAIL|PASS|panic)|chaos( backfill| apply)?:|kill [0-9]+:|lost:|item |contact |audit|simulation|never|timed out'
status=${PIPESTATUS[0]}
echo "full log: $log"
exit "$status"
