#!/usr/bin/env bash
# make lint: go vet, then golangci-lint (installed into .cache/bin from the Go module proxy)
# with the repository's .golangci.yml, on every module of the workspace.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
version=v2.15.0
bin="$root/.cache/bin"
if [ ! -x "$bin/golangci-lint" ] || ! "$bin/golangci-lint" version 2>/dev/null | grep -q "${version#v}"; then
	echo "installing golangci-lint $version into .cache/bin"
	GOBIN="$bin" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version"
fi
status=0
for dir in $(go list -m -f '{{.Dir}}'); do
	echo "=== $(realpath --relative-to="$root" "$dir")"
	(cd "$dir" && go vet ./... && "$bin/golangci-lint" run --config "$root/.golangci.yml" ./...) || status=1
done
exit $status
