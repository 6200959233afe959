# rstunnel — build, try, test, benchmark, install.
#   make run        build and start a demo tunnel (self-made certificate)
#   make test       the whole test suite, then the legacy build's tests
#   make legacy     the legacy build (vendored OpenSSL with SSLv3, 3DES,
#                   RC4) in target/legacy; make install-legacy installs it
#                   as rstunnel-legacy beside rstunnel
#   make bench      rstunnel vs stunnel4 side by side (not part of test)
#   make fuzz       every fuzz target for FUZZ_SECONDS (default 600) each
#   make install PREFIX=/usr/local DESTDIR=/tmp/stage
#   make vendor     the crates of Cargo.lock in vendor/, for the offline
#                   Debian build (dpkg-buildpackage -us -uc -b)
#   make package-test  build the .deb twice offline, lintian, install, purge

PREFIX  ?= /usr/local
DESTDIR ?=
CARGO   ?= cargo
BINDIR   = $(DESTDIR)$(PREFIX)/bin
MANDIR   = $(DESTDIR)$(PREFIX)/share/man/man8
DOCDIR   = $(DESTDIR)$(PREFIX)/share/doc/rstunnel
SYSCONF  = $(DESTDIR)/etc/rstunnel
UNITDIR  = $(DESTDIR)$(PREFIX)/lib/systemd/system
ROTATE   = $(DESTDIR)/etc/logrotate.d
F2BDIR   = $(DESTDIR)/etc/fail2ban/filter.d
# What `make install` copies: the release binary (`make build` first; install
# does not run cargo, so `sudo make install` builds nothing as root).
RSTUNNEL_BIN ?= target/release/rstunnel
INSTALL ?= install
# The legacy build: its own target directory, so the two builds never
# rebuild each other; the vendored OpenSSL reads the system's openssl.cnf
# (OPENSSLDIR /usr/lib/ssl, as Debian's), not /usr/local/ssl.
LEGACY_TARGET ?= target/legacy
LEGACY_BIN ?= $(LEGACY_TARGET)/release/rstunnel
LEGACY_CARGO = OPENSSL_CONFIG_DIR=/usr/lib/ssl $(CARGO)
LEGACY_FLAGS = --release --locked --features legacy-tls --target-dir $(LEGACY_TARGET)
# What the legacy build is tested with: its own tests, the unit tests and
# the stunnel4 differentials whose configurations ask for no weak suite.
# The integration tests are one binary (tests/suite/): the modules to run
# are its filters (libtest runs the tests that match any of them), in a
# cargo run of their own so that they do not filter the unit tests too.
LEGACY_SUITE = legacy_tls_build:: differential_tls:: tls_legacy::

FUZZ_SECONDS ?= 600

.PHONY: all build legacy run test bench install install-legacy uninstall clean vendor package-test fuzz

all: build

build:
	$(CARGO) build --release --locked

# About 6 minutes the first time on 2 cores (OpenSSL's own build is ~4).
legacy:
	$(LEGACY_CARGO) build $(LEGACY_FLAGS)

run: build
	scripts/demo

# Both builds are tested even when the first fails; make fails if either did.
test:
	scripts/install-test-deps
	status=0; \
	$(CARGO) test --release --locked --no-fail-fast -- --test-threads=2 || status=1; \
	$(LEGACY_CARGO) test $(LEGACY_FLAGS) --no-fail-fast --lib -- --test-threads=2 || status=1; \
	$(LEGACY_CARGO) test $(LEGACY_FLAGS) --no-fail-fast --test suite -- $(LEGACY_SUITE) --test-threads=2 || status=1; \
	exit $$status
	scripts/fuzz --check 10
	@if [ -n "$$RSTUNNEL_TEST_SKIP" ]; then \
	    echo "NOTE: RSTUNNEL_TEST_SKIP is set: tests whose peer or privilege is missing passed with a SKIP line"; \
	fi

# The one command that needs the network: the crates of Cargo.lock (all
# platforms') in vendor/, which debian/rules builds from offline.
vendor:
	$(CARGO) vendor --quiet --locked --versioned-dirs vendor >/dev/null

# The Debian package, built for real (tests/suite/packaging_deb.rs, ignored
# by `make test`: two release builds take about 5 minutes on 2 cores). Needs
# root: it installs the package with dpkg -i and purges it again. Only
# packaging_deb's ignored tests run (the filter is its module).
package-test: vendor
	scripts/install-test-deps
	$(CARGO) test --release --locked --test suite -- packaging_deb:: --ignored --test-threads=1

# Coverage-guided fuzzing (libFuzzer, stable toolchain; scripts/fuzz). The
# corpus in fuzz/corpus/ grows; commit what is new.
fuzz:
	scripts/fuzz $(FUZZ_SECONDS)

bench: build
	scripts/bench

clean:
	$(CARGO) clean
	rm -rf demo

# install: binary, man page, example configuration (never over an existing
# one: then as rstunnel.conf.dist), systemd unit (ExecStart follows PREFIX),
# logrotate snippet, fail2ban filter, and the example fail2ban jail as doc.
install:
	@test -x $(RSTUNNEL_BIN) || { echo "$(RSTUNNEL_BIN) missing: run 'make build' first" >&2; exit 1; }
	$(INSTALL) -d $(BINDIR) $(MANDIR) $(SYSCONF) $(UNITDIR) $(ROTATE) $(F2BDIR) $(DOCDIR)
	$(INSTALL) -m 755 $(RSTUNNEL_BIN) $(BINDIR)/rstunnel
	$(INSTALL) -m 644 doc/rstunnel.8 $(MANDIR)/rstunnel.8
	if [ -e $(SYSCONF)/rstunnel.conf ]; then \
	    $(INSTALL) -m 644 conf/rstunnel.conf $(SYSCONF)/rstunnel.conf.dist; \
	    echo "kept $(SYSCONF)/rstunnel.conf; the example is rstunnel.conf.dist"; \
	else \
	    $(INSTALL) -m 644 conf/rstunnel.conf $(SYSCONF)/rstunnel.conf; \
	fi
	sed -e 's|@BINDIR@|$(PREFIX)/bin|g' conf/rstunnel.service.in > $(UNITDIR)/rstunnel.service
	chmod 644 $(UNITDIR)/rstunnel.service
	$(INSTALL) -m 644 conf/rstunnel.logrotate $(ROTATE)/rstunnel
	$(INSTALL) -m 644 conf/fail2ban/filter.d/rstunnel.conf $(F2BDIR)/rstunnel.conf
	$(INSTALL) -m 644 conf/fail2ban/jail.d/rstunnel.conf $(DOCDIR)/fail2ban-jail.conf
	$(INSTALL) -d $(DOCDIR)/systemd
	$(INSTALL) -m 644 conf/systemd/notify.conf conf/systemd/rstunnel.socket $(DOCDIR)/systemd/

# install-legacy: the legacy build as rstunnel-legacy, beside rstunnel
# (`make legacy` first); same configuration files, man page rstunnel(8).
install-legacy:
	@test -x $(LEGACY_BIN) || { echo "$(LEGACY_BIN) missing: run 'make legacy' first" >&2; exit 1; }
	$(INSTALL) -d $(BINDIR)
	$(INSTALL) -m 755 $(LEGACY_BIN) $(BINDIR)/rstunnel-legacy

# uninstall: what install put there. The configuration file goes only if it
# is still the shipped example; directories only if rstunnel's and empty.
uninstall:
	rm -f $(BINDIR)/rstunnel $(BINDIR)/rstunnel-legacy $(MANDIR)/rstunnel.8 $(UNITDIR)/rstunnel.service \
	      $(ROTATE)/rstunnel $(F2BDIR)/rstunnel.conf $(DOCDIR)/fail2ban-jail.conf \
	      $(SYSCONF)/rstunnel.conf.dist \
	      $(DOCDIR)/systemd/notify.conf $(DOCDIR)/systemd/rstunnel.socket
	if cmp -s conf/rstunnel.conf $(SYSCONF)/rstunnel.conf; then \
	    rm -f $(SYSCONF)/rstunnel.conf; \
	elif [ -e $(SYSCONF)/rstunnel.conf ]; then \
	    echo "kept $(SYSCONF)/rstunnel.conf (changed since install)"; \
	fi
	for d in $(DOCDIR)/systemd $(DOCDIR) $(SYSCONF); do rmdir $$d 2>/dev/null || true; done
