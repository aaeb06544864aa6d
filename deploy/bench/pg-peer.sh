#!/usr/bin/env bash
# pg-peer.sh batch|projection [runs]: times the PostgreSQL peer of a Lethe simulation on
# PG_CONTACTS (1,000,000) contacts and prints one line per run: "pg-<peer> <seconds>".
#   batch       recompute every contact's recency from ~11M raw activities, then decide (pg-batch.sql)
#   projection  decide the inactive slice from an indexed recency projection and write the
#               report (pg-projection.sql): the figure a Lethe simulation must match
# The data (pg-data.sql) is made once per database and kept. Needs a PostgreSQL server: when
# none answers and this runs as root with apt-get, it installs postgresql and starts the
# cluster; otherwise it says why on stderr and exits 3, and make bench skips the peer.
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"
here=$(cd "$(dirname "$0")" && pwd)
peer=${1:?usage: pg-peer.sh batch|projection [runs]}
runs=${2:-1}
contacts=${PG_CONTACTS:-1000000}
db=${PG_DATABASE:-lethe_bench}

as_postgres() {
	if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
psql_db() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }

server_up() { as_postgres psql -X -q -d postgres -c 'select 1' >/dev/null 2>&1; }

if ! server_up; then
	if ! command -v pg_ctlcluster >/dev/null 2>&1; then
		if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
			echo "pg-peer: installing postgresql (apt-get)" >&2
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
		else
			echo "pg-peer: no PostgreSQL server and no way to install one (not root, or no apt-get): peer skipped" >&2
			exit 3
		fi
	fi
	version=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
	if [[ -z $version ]] || ! pg_ctlcluster "$version" main start 2>/dev/null && ! server_up; then
		echo "pg-peer: PostgreSQL installed but its cluster does not start: peer skipped" >&2
		exit 3
	fi
fi
as_postgres psql -X -q -d postgres -tc "select 1 from pg_database where datname = '$db'" | grep -q 1 ||
	as_postgres createdb "$db"
have=$(psql_db -tAc "select contacts from bench_meta" 2>/dev/null || true)
if [[ $have != "$contacts" ]]; then
	echo "pg-peer: making $contacts contacts and their activities in $db (once)" >&2
	psql_db -v contacts="$contacts" -f "$here/pg-data.sql" >/dev/null
fi
for _ in $(seq "$runs"); do
	# The first Time: line is the timed statement (the batch's query, the projection's INSERT).
	ms=$(psql_db -f - <"$here/pg-$peer.sql" | awk '/^Time: / { print $2; exit }')
	[[ -n $ms ]] || { echo "pg-peer: no timing from pg-$peer.sql" >&2; exit 1; }
	awk -v ms="$ms" -v p="$peer" 'BEGIN { printf "pg-%s %.4f\n", p, ms / 1000 }'
done
