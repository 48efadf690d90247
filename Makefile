# The two commands a newcomer runs: `make demo` and `make test`.
SYSTEM_PACKAGES := cmake pkg-config libssl-dev perl make curl
TEST_PACKAGES := prometheus chromium

.PHONY: all deps test-deps build release cert demo test lint check ci

all: build

deps:
	@scripts/install-deps.sh $(SYSTEM_PACKAGES)

test-deps: deps
	@scripts/install-deps.sh $(TEST_PACKAGES)

build: deps
	cargo build --workspace --bins

release: deps
	cargo build --release --bins

cert:
	@certs/make-dev-cert.sh certs/dev.pem

## Three demo origins and the gateway on conf/demo.yaml (8080, 8443, 8404); Ctrl-C stops.
demo: release cert
	@scripts/demo.sh

## Every test: unit tests and integration tests against the real binary.
test: test-deps
	cargo build -p gateway --bins
	cargo test --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

## Validate every shipped configuration (with the dev certificate where they expect one).
check: build
	@scripts/check-confs.sh

ci: test lint check
