# Lethe — `make run` starts it, `make test` installs what tests need and runs them all.
SHELL := /bin/bash
GO    ?= go
DATA  ?= ./lethe-data
# Every module of the workspace: `go test ./...` does not cross module boundaries.
MODULES = $(shell $(GO) list -m -f '{{.Dir}}')
# Pure Go throughout: Pebble's zstd from klauspost/compress rather than cgo DataDog/zstd.
export GOFLAGS := $(strip $(GOFLAGS) -tags=pebblegozstd)

.PHONY: run demo test race chaos build lint bench fuzz fuzz-api mongo-start mongo-stop clean

run: build ## start lethe serve with embedded NATS and the embedded store under ./lethe-data
	./bin/lethe serve --data $(DATA)

demo: build ## a synthetic institution loaded into a lethe serve under ./lethe-demo, a simulation, its summary and the URLs (DEMO_CONTACTS, DEMO_SEED, DEMO_HTTP)
	deploy/demo/demo.sh

build: ## build bin/lethe
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -o bin/lethe ./services/lethe

test: ## start the MongoDB harness (unless MONGODB_URI is set), run every module's tests, then the bus under -race
	deploy/testing/run-tests.sh

race: ## the whole suite under the race detector (slower; CI runs only the bus under it)
	RACE=all deploy/testing/run-tests.sh

chaos: ## the fault-injection suite at size: SIGKILL of lethe serve during a backfill and an apply (CHAOS_CONTACTS, CHAOS_KILLS, CHAOS_SEED)
	deploy/testing/chaos.sh

lint: ## go vet and staticcheck on every module
	deploy/testing/lint.sh

bench: ## run the benchmarks and print a table
	deploy/testing/bench.sh

fuzz-api: ## the schema fuzzer (schemathesis) against a live lethe serve, FUZZ_TIME seconds
	deploy/testing/schemathesis.sh

fuzz: ## fuzz the event decoders for a while
	cd events && $(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $${FUZZTIME:-60s} .

.PHONY: up down
up: ## the microservice topology with Docker (docker-compose.yml): one URL, http://localhost:8080; secrets generated once under deploy/secrets/
	@command -v docker >/dev/null 2>&1 || { echo "make up: Docker is not installed (it needs Docker with the compose plugin); make run is the same code in one process without it" >&2; exit 1; }
	@docker compose version >/dev/null 2>&1 || { echo "make up: the docker compose plugin is missing (docker compose version failed)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make up: the Docker daemon does not answer (docker info failed): start it, or check that you may use its socket" >&2; exit 1; }
	deploy/docker/secrets.sh
	docker compose up -d --build
	@echo "lethe: http://localhost:8080 (API and /ui/) once docker compose ps shows the services healthy; tokens in deploy/config/lethe.yaml; traces http://localhost:16686"

down: ## stop the compose topology (its volumes stay; docker compose down -v removes them)
	@command -v docker >/dev/null 2>&1 || { echo "make down: Docker is not installed" >&2; exit 1; }
	docker compose down

mongo-start: ## start the MongoDB wire-protocol test server (mongo-java-server)
	deploy/testing/mongo-harness.sh start

mongo-stop:
	deploy/testing/mongo-harness.sh stop

clean:
	rm -rf bin .cache
