#!/usr/bin/env bash
# Generates docker-compose.yml's secrets once, under deploy/secrets/ (never committed, never in
# the image): the master key (base64 of 32 random bytes), the services' NATS password and the
# receipts' signing key (base64 of a 32-byte Ed25519 seed). An
# existing file is never replaced: a new master key would make every sealed value unreadable.
set -euo pipefail
dir="$(dirname "$0")/../secrets"
mkdir -p "$dir"
chmod 700 "$dir"
for name in master_key nats_password receipt_key; do
	if [[ ! -s "$dir/$name" ]]; then
		head -c 32 /dev/urandom | base64 > "$dir/$name"
		echo "generated $dir/$name"
	fi
	# Readable by the containers' user (compose bind-mounts the file as it is); the 0700
	# directory keeps other users of this machine out.
	chmod 644 "$dir/$name"
done
