#!/usr/bin/env bash
# MongoDB for tests where no MongoDB can be installed: runs mongo-java-server (in-memory,
# wire version 9) on 127.0.0.1 and a free port. State lives in <repo>/.cache/.
#
#   mongo-harness.sh start   build the jar if needed, start the server unless it runs; idempotent
#   mongo-harness.sh stop    stop it (no error if it is not running)
#   mongo-harness.sh uri     print the URI to use: $MONGODB_URI if set, else the harness server's
#
# With MONGODB_URI set (a real MongoDB), start and stop do nothing, so callers can always run
#   deploy/testing/mongo-harness.sh start && MONGODB_URI=$(deploy/testing/mongo-harness.sh uri) go test ...
#
# Environment: MONGO_HARNESS_TIMEOUT (seconds to wait for the server, default 180: a JVM on a
# loaded 2-core machine can take minutes to start, and a server that is up returns at once),
# MONGO_HARNESS_JAVA_OPTS (JVM flags, replacing the defaults below).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.cache"
server_dir="$here/mongo-server"
jar="$server_dir/target/mongo-server.jar"
uri_file="$cache/mongo.uri"
pid_file="$cache/mongo.pid"
log_file="$cache/mongo.log"
ready_file="$cache/mongo.ready"
lock_file="$cache/mongo.lock"
timeout=${MONGO_HARNESS_TIMEOUT:-180}
# Serial GC and C1 only: the server shares 2 cores with the Go tests it serves, and a test run
# is too short for C2 to pay off.
java_opts=${MONGO_HARNESS_JAVA_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xms64m -Xmx1g}

die() {
	echo "mongo-harness: $*" >&2
	exit 1
}

# is_ours PID: the process exists and is our server (not a recycled pid).
is_ours() {
	local pid=$1
	[[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' </proc/"$pid"/cmdline | grep -q -- "mongo-server.jar"
}

# accepts PORT: something accepts TCP connections on 127.0.0.1:PORT.
accepts() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running() {
	[[ -f $pid_file && -f $uri_file ]] || return 1
	local pid port
	pid=$(<"$pid_file")
	port=$(sed -n 's#^mongodb://127\.0\.0\.1:\([0-9]*\).*#\1#p' "$uri_file")
	is_ours "$pid" && [[ -n $port ]] && accepts "$port"
}

build() {
	command -v java >/dev/null || die "java not found (Java 17+ is needed)"
	command -v mvn >/dev/null || die "mvn not found (Maven 3.8+ is needed)"
	local newest
	newest=$(find "$server_dir/pom.xml" "$server_dir/src" -type f -newer "$jar" 2>/dev/null | head -n1 || true)
	if [[ -f $jar && -z $newest ]]; then
		return 0
	fi
	echo "mongo-harness: building $(basename "$jar") (the first build downloads from Maven Central)" >&2
	local attempt
	for attempt in 1 2; do
		if mvn -B -q -Dstyle.color=never -f "$server_dir/pom.xml" -DskipTests package >"$cache/mongo-build.log" 2>&1; then
			[[ -f $jar ]] || die "maven succeeded but $jar is missing"
			return 0
		fi
		echo "mongo-harness: maven build attempt $attempt failed" >&2
	done
	cat "$cache/mongo-build.log" >&2
	die "could not build the mongo-java-server jar"
}

start() {
	if [[ -n ${MONGODB_URI:-} ]]; then
		return 0
	fi
	mkdir -p "$cache"
	# One start at a time: parallel make jobs must share one server, not race for two.
	exec 9>"$lock_file"
	flock 9
	if running; then
		return 0
	fi
	stop_quietly
	build

	rm -f "$ready_file" "$ready_file.tmp"
	# setsid: the server outlives the shell that started it (and its Ctrl-C) until `stop`.
	# shellcheck disable=SC2086 # java_opts is a list of flags
	setsid nohup java $java_opts -jar "$jar" 0 "$ready_file" </dev/null >"$log_file" 2>&1 9>&- &
	local launcher=$!

	local deadline=$((SECONDS + timeout)) port="" pid=""
	while ((SECONDS < deadline)); do
		if [[ -s $ready_file ]]; then
			read -r port pid <"$ready_file"
			if accepts "$port"; then
				break
			fi
		fi
		if [[ -z $pid ]] && ! kill -0 "$launcher" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	if [[ -z $port ]] || ! accepts "$port"; then
		echo "mongo-harness: the server did not accept connections within ${timeout}s; its log:" >&2
		cat "$log_file" >&2 || true
		[[ -n $pid ]] && kill "$pid" 2>/dev/null || true
		kill "$launcher" 2>/dev/null || true
		exit 1
	fi
	echo "$pid" >"$pid_file"
	echo "mongodb://127.0.0.1:$port" >"$uri_file"
	echo "mongo-harness: mongo-java-server listening on 127.0.0.1:$port (pid $pid)" >&2
}

stop_quietly() {
	if [[ -f $pid_file ]]; then
		local pid
		pid=$(<"$pid_file")
		if is_ours "$pid"; then
			kill "$pid" 2>/dev/null || true
			local deadline=$((SECONDS + 10))
			while is_ours "$pid" && ((SECONDS < deadline)); do
				sleep 0.1
			done
			if is_ours "$pid"; then
				kill -9 "$pid" 2>/dev/null || true
			fi
		fi
	fi
	rm -f "$pid_file" "$uri_file" "$ready_file"
}

stop() {
	if [[ -n ${MONGODB_URI:-} ]]; then
		return 0
	fi
	[[ -d $cache ]] || return 0
	exec 9>"$lock_file"
	flock 9
	stop_quietly
}

uri() {
	if [[ -n ${MONGODB_URI:-} ]]; then
		echo "$MONGODB_URI"
		return 0
	fi
	running || die "no server running: run '$0 start' first"
	cat "$uri_file"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
uri) uri ;;
*)
	echo "usage: $0 start|stop|uri" >&2
	exit 2
	;;
esac
