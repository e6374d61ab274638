# egress-vnf: top-level targets (CONTRACT section 6).
#
#   make setup   system packages (apt, Debian bookworm) and the rustfmt/clippy components
#   make build   cargo build --release --workspace
#   make lint    cargo fmt --check and clippy -D warnings
#   make test    setup + build + lint + every test (unit, property, DPDK, end-to-end)
#   make demo    IPv4-only pod -> IPv6-only service by name (DNS46/NAT46), IPv6-only pod -> IPv4-only
#                service (DNS64/NAT64), SNAT44, `egressctl show vs stats`;
#                `make demo HOLD=1` keeps the topology up until Ctrl-C
#   make bench   the perf/ benchmarks
#   make fuzz    every fuzz target for FUZZ_SECONDS each (default 600; `make test` runs them
#                FUZZ_TEST_SECONDS each, default 25)
#   make soak    mixed traffic for SOAK_MINUTES (default 10): memory, mempool and sessions flat
#
# End-to-end tests and the demo need root (network namespaces, veths, hugepages, DPDK).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
HOLD ?=
FUZZ_SECONDS ?= 600
FUZZ_TEST_SECONDS ?= 25
SOAK_MINUTES ?= 10

# apt runs only when one of these is missing (dpkg-query says so), so `make setup` is fast on a
# machine that has them.
APT_PACKAGES := \
	build-essential pkg-config clang libclang-dev \
	dpdk dpdk-dev libdpdk-dev \
	librte-net-pcap23 librte-net-af-packet23 librte-net-null23 librte-net-ring23 librte-mempool-ring23 \
	iproute2 iputils-ping iputils-tracepath procps ethtool \
	dnsutils knot-dnsutils curl openssl socat tshark \
	redis-server redis-sentinel knot dnsmasq-base

# Installed packages whose system service must not run: tests start their own instances.
SERVICES := redis-server redis-sentinel knot

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup build lint test test-unit test-e2e test-fuzz demo bench fuzz soak

setup:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${db:Status-Abbrev}' "$$p" 2>/dev/null | grep -q '^ii' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing$$missing"; \
	  echo "wireshark-common wireshark-common/install-setuid boolean false" | $(SUDO) debconf-set-selections; \
	  policy_added=""; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null; \
	    $(SUDO) chmod 755 /usr/sbin/policy-rc.d; policy_added=1; \
	  fi; \
	  rc=0; \
	  { $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $$missing; } || rc=$$?; \
	  if [ -n "$$policy_added" ]; then $(SUDO) rm -f /usr/sbin/policy-rc.d; fi; \
	  [ "$$rc" = 0 ] || { echo "setup: apt-get failed ($$rc)" >&2; exit "$$rc"; }; \
	  if [ -d /run/systemd/system ]; then \
	    for s in $(SERVICES); do $(SUDO) systemctl disable --now "$$s" >/dev/null 2>&1 || true; done; \
	  fi; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "setup: cargo not found (install Rust with rustup)" >&2; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

build:
	$(CARGO) build --release --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Unit, property and DPDK tests of every crate except the end-to-end one (release profile:
# the same build as `make build`, and faster property tests).
test-unit:
	$(CARGO) test --release --workspace --exclude egress-tests --no-fail-fast

# End-to-end tests: serial (--test-threads=1), against $(TARGET_DIR)/release/egress-vnf; root.
test-e2e: build
	$(CARGO) test --release -p egress-tests --no-fail-fast -- --test-threads=1

# Fuzz targets (vnf/fuzz, config/fuzz), briefly; installs cargo-fuzz when missing. A crash,
# hang or lost mbuf fails (docs/testing.md).
test-fuzz:
	vnf/fuzz/run.sh $(FUZZ_TEST_SECONDS)

# A failed build stops at once; otherwise every check runs and the failed ones are listed.
test: setup
	@t0=$$SECONDS; failed=""; \
	step() { local s=$$SECONDS rc=0 name="$$1"; shift; echo "==> $$name"; "$$@" || rc=$$?; \
	  echo "==> $$name: $$( [ $$rc = 0 ] && echo ok || echo "FAILED ($$rc)" ) in $$((SECONDS - s)) s"; return $$rc; }; \
	step "lint: rustfmt" $(CARGO) fmt --all -- --check || failed="$$failed rustfmt"; \
	step "build (release)" $(MAKE) --no-print-directory build; \
	step "lint: clippy" $(CARGO) clippy --workspace --all-targets -- -D warnings || failed="$$failed clippy"; \
	step "unit tests" $(MAKE) --no-print-directory test-unit || failed="$$failed unit-tests"; \
	step "fuzz (briefly)" $(MAKE) --no-print-directory test-fuzz || failed="$$failed fuzz"; \
	step "end-to-end tests" $(MAKE) --no-print-directory test-e2e || failed="$$failed end-to-end-tests"; \
	if [ -n "$$failed" ]; then echo "==> make test FAILED:$$failed ($$((SECONDS - t0)) s)"; exit 1; fi; \
	echo "==> make test passed in $$((SECONDS - t0)) s"

demo: setup
	$(CARGO) build --release -p egress-vnf -p egress-tests --bins
	$(TARGET_DIR)/release/egress-demo $(if $(filter 1 yes true,$(HOLD)),--hold)

# BENCH_ARGS: options of the throughput runner, e.g. `make bench BENCH_ARGS="--seconds 2 --runs 1"`
# (smoke run); CRITERION_ARGS: arguments of the criterion micro-benchmarks.
BENCH_ARGS ?=
CRITERION_ARGS ?=
bench: setup build
	$(CARGO) run --release -p egress-perf --bin bench -- $(BENCH_ARGS)
	$(CARGO) bench -p egress-perf -- $(CRITERION_ARGS)

fuzz: setup
	vnf/fuzz/run.sh $(FUZZ_SECONDS)

soak: setup build
	SOAK_MINUTES=$(SOAK_MINUTES) $(CARGO) test --release -p egress-tests --test soak -- \
	  --ignored --exact soak --nocapture
