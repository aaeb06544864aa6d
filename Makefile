# Lethe — `make run` starts it, `make test` installs what tests need and runs them all.
SHELL := /bin/bash
GO    ?= go
DATA  ?= ./lethe-data
# Every module of the workspace: `go test ./...` does not cross module boundaries.
MODULES = $(shell $(GO) list -m -f '{{.Dir}}')

.PHONY: run test build lint bench fuzz mongo-start mongo-stop clean

run: build ## start lethe serve with embedded NATS and the embedded store under ./lethe-data
	./bin/lethe serve --data $(DATA)

build: ## build bin/lethe
	@mkdir -p bin
	cd services/lethe && $(GO) build -o ../../bin/lethe .

test: ## start the MongoDB harness (unless MONGODB_URI is set) and run every module's tests with -race
	deploy/testing/run-tests.sh

lint: ## go vet and staticcheck on every module
	deploy/testing/lint.sh

bench: ## run the benchmarks and print a table
	deploy/testing/bench.sh

fuzz: ## fuzz the event decoders for a while
	cd events && $(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $${FUZZTIME:-60s} .

mongo-start: ## start the MongoDB wire-protocol test server (mongo-java-server)
	deploy/testing/mongo-harness.sh start

mongo-stop:
	deploy/testing/mongo-harness.sh stop

clean:
	rm -rf bin .cache
