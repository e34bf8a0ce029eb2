# pbxnet: the two set-up commands are `make demo` and `make test` (as root on
# Debian: both install the peers they need first).

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all build deps test demo lint fmt check-core audit fuzz-check fuzz bench clean

all: build

## Debian packages for the peers, the lab and the anchors.
deps:
	@tests/install-deps.sh

## Debug build of every crate and binary (what the tests and the demo run).
build:
	$(CARGO) build --workspace --bins

## The README's test command: every unit, property, simulation and
## namespace-lab test of the workspace.
test: deps
	$(CARGO) test --workspace --no-fail-fast

## The main job on the embedded default: builds, creates an isolated LAN,
## starts the daemons on etc/, powers on a small fleet, prints a report, cleans up.
demo: deps build
	target/debug/pbxnet-sim demo --config etc

## Style and lints as CI runs them.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## The sans-IO cores build without tokio or the daemon shells.
check-core:
	for c in pbxnet-dhcp pbxnet-tftp pbxnet-ntp pbxnet-license pbxnet-inventory; do \
	  $(CARGO) check -p $$c --no-default-features --lib || exit 1; \
	done

## Issue 15's structure rules (file and function sizes, import cycles, IO in
## the cores): one line per offender (docs/testing.md, "Structure audit").
audit:
	$(CARGO) run -q -p pbxnet-xtask -- audit

## The fuzz targets compile (running them: `make fuzz`, see fuzz/README.md).
fuzz-check:
	$(CARGO) check --manifest-path fuzz/Cargo.toml --bins

## Every fuzz target for FUZZ_SECONDS each (cargo-fuzz, installed when
## missing; stable toolchain with RUSTC_BOOTSTRAP=1, AddressSanitizer).
## Fails when any target finds a crash; prints executions per target.
FUZZ_SECONDS ?= 30
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

## Every benchmark (each prints a table beside its anchor; see docs/performance.md).
bench:
	@for t in $$(grep -oE '^bench-[a-z-]+:' Makefile | tr -d ':'); do $(MAKE) $$t || exit 1; done

clean:
	$(CARGO) clean

# ---------------------------------------------------------------------------
# Benchmarks (bench-*), one per daemon, appended below. Each works on a fresh
# machine: `deps` installs the peers and anchors (tests/install-deps.sh), and
# the TFTP anchors are unpacked with their libraries by tftp-prepare.sh.

## Site boot storm (pbxnet-sim): 300 phones, 16 OmniSwitches and 64 Stellar
## APs powering on within one second, against pbxnet and against Kea 2.2 +
## tftpd-hpa + chronyd in the same run (release build; docs/performance.md);
## then the firmware day over TFTP (both stacks) and over HTTP (option 160
## names the image; pbxnet only, tftpd-hpa serves no HTTP).
.PHONY: bench-site
bench-site: deps
	tests/bench/tftp-prepare.sh
	$(CARGO) build --release --bins -p pbxnet-sim -p pbxnet-dhcp -p pbxnet-tftp -p pbxnet-ntp
	target/release/pbxnet-sim bench-site --config etc --rounds 5
	target/release/pbxnet-sim bench-site --config etc --rounds 3 --upgrade-all
	target/release/pbxnet-sim bench-site --config etc --rounds 3 --upgrade-all --provisioning http

## pbxnet-ntpd vs chronyd 4.3 vs a do-nothing responder, plain and MD5 (root; namespaces).
bench-ntp-server: deps
	tests/bench/ntp-server.sh

# ---------------------------------------------------------------------------
# Packaging (issue 10; packaging/, systemd/, crates/pbxnet-xtask).

## Debian package target/debian/pbxnet_<version>_<arch>.deb (cargo-deb,
## installed from crates.io when missing): release binaries, units, the
## example site as conffiles, man pages (clap_mangen), docs.
.PHONY: deb test-deb man
deb:
	packaging/build-deb.sh

## The package: lintian without errors, installed into a scratch root
## (dpkg --root, maintainer scripts chrootless with DPKG_ROOT), each daemon's
## `check` on the installed configuration, purge. Root. Not part of `make
## test` (the release build and cargo-deb cost minutes): run after `make deb`.
test-deb: deb
	packaging/test-deb.sh

## Man pages into target/man: daemons and tools from their clap definitions,
## the configuration files (section 5) from docs/config-reference.md.
man:
	$(CARGO) run -q -p pbxnet-xtask -- man target/man

## pbxnet-tftpd vs tftpd-hpa and atftpd (both unpacked from Debian by
## tests/bench/tftp-prepare.sh, they conflict as packages), same run: 32 MiB
## single transfers pinned apart (median of BENCH_REPS=5), DATA after a client
## ERROR, boot storm of BENCH_STORM=300 clients (root; namespaces; ~15 min).
.PHONY: bench-tftp
bench-tftp: deps
	tests/bench/tftp-prepare.sh
	BENCH_OUT=$(CURDIR)/target/bench-tftp.md $(CARGO) test --release -p pbxnet-tftp --test bench -- --ignored --nocapture --test-threads=1

## pbxnet-ntpd client (simulated clock) vs chronyd -x through a 7±1 / 5±1 ms userspace link (root; ~12 min).
bench-ntp-client: deps
	tests/bench/ntp-client.sh

## pbxnet-dhcpd (SQLite, fsynced leases) vs Kea 2.2 (memfile, 1 thread, WARN)
## with perfdhcp as a relay, same run, pinned apart; steps BENCH_RATES for
## BENCH_SECS each, BENCH_REPS repetitions (root; namespaces; ~8 min).
.PHONY: bench-dhcp
bench-dhcp: deps
	$(CARGO) build --release -p pbxnet-dhcp --bin pbxnet-dhcpd
	tests/bench/dhcp.sh

## Several DHCP servers on one PostgreSQL 15 (scratch cluster, fsync on):
## Kea 2.2 (lease-database postgresql, 1 thread and multi-threaded) vs one,
## two and three pbxnet-dhcpd sharing one site; perfdhcp as relay, steps
## BENCH_RATES for BENCH_SECS each (root; namespaces; ~5 min).
.PHONY: bench-dhcp-pg
bench-dhcp-pg: deps
	$(CARGO) build --release -p pbxnet-dhcp --bin pbxnet-dhcpd
	tests/bench/dhcp-pg.sh

## pbxnet-tftpd's HTTP/HTTPS front ends vs nginx 1.22 (nginx-light: worker_processes 1,
## sendfile, same certificate), pinned apart: firmware day (BENCH_CLIENTS=200 curl
## phones: 4 KiB config then 16 MiB image, HTTP then HTTPS) and BENCH_RECHECK=300
## If-None-Match re-checks (BENCH_RECHECK_ROUNDS=5 rounds), BENCH_REPS=5 (root; namespaces; ~5 min).
.PHONY: bench-http
bench-http: deps
	$(CARGO) build --release -p pbxnet-tftp --bin pbxnet-tftpd
	tests/bench/http.sh
