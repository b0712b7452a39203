# Gongkai: two commands on a fresh machine — `make run` and `make test`.

.PHONY: run stop test bench lint fmt deps build clean-demo

## Build, start a demo node on SQLite, import the seed, show a search.
run:
	deploy/scripts/run-demo.sh

## Stop the demo node started by `make run`.
stop:
	deploy/scripts/stop-demo.sh

## Everything: unit, store (SQLite and PostgreSQL) and end-to-end tests.
test: deps
	deploy/scripts/test.sh

## Benchmarks with their baselines; figures go to BENCHMARKS.md.
bench: deps
	deploy/scripts/bench.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

## Install what the node and the tests need (nats-server, PostgreSQL).
deps:
	deploy/scripts/install-deps.sh

build:
	cargo build --workspace

clean-demo: stop
	rm -rf data/demo
