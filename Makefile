# rstunnel — build, try, test, benchmark, install.
#   make run        build and start a demo tunnel (self-made certificate)
#   make test       the whole test suite
#   make bench      rstunnel vs stunnel4 side by side (not part of test)
#   make install PREFIX=/usr/local DESTDIR=/tmp/stage

PREFIX  ?= /usr/local
DESTDIR ?=
CARGO   ?= cargo
BINDIR   = $(DESTDIR)$(PREFIX)/bin
MANDIR   = $(DESTDIR)$(PREFIX)/share/man/man8
DOCDIR   = $(DESTDIR)$(PREFIX)/share/doc/rstunnel
SYSCONF  = $(DESTDIR)/etc/rstunnel
UNITDIR  = $(DESTDIR)$(PREFIX)/lib/systemd/system
ROTATE   = $(DESTDIR)/etc/logrotate.d

.PHONY: all build run test bench install uninstall clean

all: build

build:
	$(CARGO) build --release --locked

run: build
	scripts/demo

test:
	$(CARGO) test --release --locked --no-fail-fast -- --test-threads=2

bench: build
	scripts/bench

clean:
	$(CARGO) clean
	rm -rf demo
