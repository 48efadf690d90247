# The two commands a newcomer runs: `make demo` and `make test`.
SYSTEM_PACKAGES := cmake pkg-config libssl-dev perl make curl
TEST_PACKAGES := prometheus chromium systemd python3-h2 testssl.sh openssl haproxy redis-server dnsmasq python3-grpcio pebble
BENCH_PACKAGES := haproxy nginx wrk nghttp2-client python3 redis-server valgrind strace

.PHONY: all deps test-deps bench-deps build release cert demo test lint check ci bench bench-instructions bench-syscalls audit soak fuzz-config

all: build

deps:
	@scripts/install-deps.sh $(SYSTEM_PACKAGES)

test-deps: deps
	@scripts/install-deps.sh $(TEST_PACKAGES)

bench-deps: deps
	@scripts/install-deps.sh $(BENCH_PACKAGES)

build: deps
	cargo build --workspace --bins

release: deps
	cargo build --release --bins

cert:
	@certs/make-dev-cert.sh certs/dev.pem

## Three demo origins and the gateway on conf/demo.yaml (8080, 8443, 8404); Ctrl-C stops.
demo: release cert
	@scripts/demo.sh

## Every test: unit tests and integration tests against the real binary (which the tests
## build from the current sources), including the ones marked ignored because they need a
## tool from test-deps or root: there a missing tool fails the test.
test: test-deps
	cargo test --workspace -- --include-ignored

## The gateway, HAProxy and nginx side by side (THREADS=1 ROUNDS=3 DURATION=8); see docs/BENCHMARKS.md.
bench: bench-deps release
	cargo build --release -p gateway --example bare_pingora
	python3 bench/bench.py

## Instructions per request under callgrind (repeatable on a busy machine), HTTP/1.1 and HTTP/2;
## BINARIES=old=path,new=path compares builds. See bench/instructions.py.
bench-instructions: bench-deps release
	python3 bench/instructions.py

## System calls (and their sizes) and CPU time per response, gateway against the peers. See bench/syscalls.py.
bench-syscalls: bench-deps release
	cargo build --release -p gateway --example bare_pingora
	python3 bench/syscalls.py

## TLS audit: testssl.sh against the shipped defaults; fails on any HIGH or CRITICAL finding.
audit: test-deps build cert
	@scripts/audit.sh

## Soak: the gateway under load for SOAK_MINUTES (default 30), RSS sampled; not part of CI.
soak: bench-deps release cert
	@scripts/soak.sh

## Fuzz `gateway -t` with FUZZ_CASES (default 3000) mutated configurations; fails on a panic,
## a run over 5 s or over 200 MB. Not part of CI.
fuzz-config: build
	python3 scripts/fuzz-config.py

## A cluster on 127.0.0.1 (Redis, dnsmasq, three origins, two gateways, HAProxy in front with
## PROXY protocol v2): the one tests/tests/cluster.rs proves; prints what to try; Ctrl-C stops it.
.PHONY: cluster-demo
cluster-demo: deps
	@scripts/install-deps.sh haproxy redis-server dnsmasq openssl
	cargo run -q -p gateway-tests --bin cluster-demo

## Formatting, clippy, and no dependency cycle between the gateway's modules.
lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	scripts/check-cycles --self-test
	scripts/check-cycles gateway/src

## Validate every shipped configuration (with the dev certificate where they expect one).
check: build
	@scripts/check-confs.sh

ci: test lint check
