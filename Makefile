# spikeloop: build, install and uninstall (docs/service.md).
#
#   make                       release build (.build/release/spikeloop)
#   sudo make install          binary, systemd unit, default configuration
#   sudo make uninstall        removes them again (edited configuration stays)
#   sudo make install-cpu-latency
#                              lets the service hold a CPU wake-up latency
#                              (loop.realtime.cpu_latency): the group spikeloop-rt,
#                              a udev rule for /dev/cpu_dma_latency, a drop-in
#   make check-unit            systemd-analyze verify + security (CI: Tools/test)
#
# Variables: PREFIX=/usr/local, BINDIR=$(PREFIX)/bin, SYSCONFDIR=/etc,
# SYSTEMDUNITDIR=$(SYSCONFDIR)/systemd/system, DOCDIR=$(PREFIX)/share/doc/spikeloop,
# UDEVRULESDIR=$(SYSCONFDIR)/udev/rules.d, DESTDIR (staging root for packages and tests).
#
# `make install` installs exactly these files and nothing else:
#   $(BINDIR)/spikeloop
#   $(SYSTEMDUNITDIR)/spikeloop.service
#   $(SYSCONFDIR)/spikeloop/spikeloop.yaml
#   $(SYSCONFDIR)/spikeloop/robots/cartpole.yaml
#   $(SYSCONFDIR)/spikeloop/networks/cartpole.yaml
#   $(DOCDIR)/service.md
# The three configuration files are not overwritten when they exist (an
# edited configuration survives a reinstall); `make uninstall` removes them
# only while they are unchanged.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= $(SYSCONFDIR)/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/spikeloop
UDEVRULESDIR ?= $(SYSCONFDIR)/udev/rules.d
DESTDIR ?=
SHELL = /bin/bash

SWIFT_BUILD ?= swift build
BINARY ?= .build/release/spikeloop
# Exposure above which `make check-unit` fails (systemd-analyze security scale, 0–10).
MAX_EXPOSURE ?= 2.0

CONFDIR = $(SYSCONFDIR)/spikeloop
STAGE = .build/install
SOURCES := Package.swift $(shell find Sources -type f 2>/dev/null)

# What the configuration looks like installed: the robot beside it.
CONFIG_FILES = spikeloop.yaml robots/cartpole.yaml networks/cartpole.yaml

.PHONY: all build install uninstall install-cpu-latency uninstall-cpu-latency check-unit clean-stage FORCE
FORCE:

all: build

build: .build/release/spikeloop

.build/release/spikeloop: $(SOURCES)
	$(SWIFT_BUILD) -c release --product spikeloop

# The unit and configuration as installed, with this installation's paths.
# Regenerated every time: it depends on the variables of this make run.
$(STAGE)/spikeloop.service: systemd/spikeloop.service FORCE
	@mkdir -p $(STAGE)
	sed -e 's|/usr/local/bin/spikeloop|$(BINDIR)/spikeloop|g' \
	    -e 's|/etc/spikeloop/|$(CONFDIR)/|g' \
	    -e 's|/usr/local/share/doc/spikeloop/|$(DOCDIR)/|g' $< > $@

$(STAGE)/spikeloop.yaml: Config/spikeloop.yaml Makefile
	@mkdir -p $(STAGE)
	sed -e 's|^robot: \.\./Robots/cartpole\.yaml.*|robot: robots/cartpole.yaml|' $< > $@

$(STAGE)/robots/cartpole.yaml: Robots/cartpole.yaml
	@mkdir -p $(STAGE)/robots
	cp $< $@

$(STAGE)/networks/cartpole.yaml: Config/networks/cartpole.yaml
	@mkdir -p $(STAGE)/networks
	cp $< $@

STAGED = $(STAGE)/spikeloop.service $(addprefix $(STAGE)/,$(CONFIG_FILES))

install: $(BINARY) $(STAGED)
	install -D -m 0755 $(BINARY) $(DESTDIR)$(BINDIR)/spikeloop
	install -D -m 0644 $(STAGE)/spikeloop.service $(DESTDIR)$(SYSTEMDUNITDIR)/spikeloop.service
	install -D -m 0644 docs/service.md $(DESTDIR)$(DOCDIR)/service.md
	@for f in $(CONFIG_FILES); do \
	    if [ -e "$(DESTDIR)$(CONFDIR)/$$f" ]; then \
	        cmp -s "$(STAGE)/$$f" "$(DESTDIR)$(CONFDIR)/$$f" || echo "kept $(DESTDIR)$(CONFDIR)/$$f (edited; the shipped one is $(STAGE)/$$f)"; \
	    else \
	        echo "install -D -m 0644 $(STAGE)/$$f $(DESTDIR)$(CONFDIR)/$$f"; \
	        install -D -m 0644 "$(STAGE)/$$f" "$(DESTDIR)$(CONFDIR)/$$f" || exit 1; \
	    fi; \
	done
	@[ -n "$(DESTDIR)" ] || echo "next: systemctl daemon-reload && systemctl enable --now spikeloop"

uninstall: $(addprefix $(STAGE)/,$(CONFIG_FILES))
	rm -f $(DESTDIR)$(BINDIR)/spikeloop $(DESTDIR)$(SYSTEMDUNITDIR)/spikeloop.service $(DESTDIR)$(DOCDIR)/service.md
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	@for f in $(CONFIG_FILES); do \
	    if cmp -s "$(STAGE)/$$f" "$(DESTDIR)$(CONFDIR)/$$f"; then \
	        echo "rm -f $(DESTDIR)$(CONFDIR)/$$f"; rm -f "$(DESTDIR)$(CONFDIR)/$$f"; \
	    elif [ -e "$(DESTDIR)$(CONFDIR)/$$f" ]; then \
	        echo "kept $(DESTDIR)$(CONFDIR)/$$f (edited)"; \
	    fi; \
	done
	-@rmdir $(DESTDIR)$(CONFDIR)/robots $(DESTDIR)$(CONFDIR)/networks $(DESTDIR)$(CONFDIR) 2>/dev/null || true
	@[ -n "$(DESTDIR)" ] || echo "next: systemctl daemon-reload"

DROPIN = $(SYSTEMDUNITDIR)/spikeloop.service.d/cpu-latency.conf
UDEVRULE = $(UDEVRULESDIR)/60-spikeloop-cpu-latency.rules

# What loop.realtime.cpu_latency needs under the unit (docs/service.md, "Wake-up latency").
install-cpu-latency:
	@if [ -z "$(DESTDIR)" ] && ! getent group spikeloop-rt >/dev/null; then \
	    echo "groupadd --system spikeloop-rt"; groupadd --system spikeloop-rt || exit 1; \
	fi
	install -D -m 0644 systemd/60-spikeloop-cpu-latency.rules $(DESTDIR)$(UDEVRULE)
	install -D -m 0644 systemd/cpu-latency.conf $(DESTDIR)$(DROPIN)
	@[ -n "$(DESTDIR)" ] || echo "next: udevadm control --reload && udevadm trigger --sysname-match=cpu_dma_latency" \
	    "&& systemctl daemon-reload && systemctl restart spikeloop"

uninstall-cpu-latency:
	rm -f $(DESTDIR)$(UDEVRULE) $(DESTDIR)$(DROPIN)
	-rmdir $(DESTDIR)$(SYSTEMDUNITDIR)/spikeloop.service.d 2>/dev/null
	@[ -n "$(DESTDIR)" ] || echo "next: systemctl daemon-reload (the group spikeloop-rt stays: groupdel spikeloop-rt)"

# The unit as installed: `systemd-analyze verify` (syntax, dependencies, and
# that ExecStart= names an executable: here the built binary, or /bin/true
# before a build) and `security --offline=yes`, which fails above MAX_EXPOSURE.
check-unit: $(STAGE)/spikeloop.service
	@set -o pipefail; dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	exe=$(abspath $(BINARY)); [ -x "$$exe" ] || exe=/bin/true; \
	threshold=$$(awk 'BEGIN {print int($(MAX_EXPOSURE) * 10 + 0.5)}'); \
	for form in unit "unit with systemd/cpu-latency.conf"; do \
	    mkdir -p "$$dir/$$form" && \
	    sed -e "s|^ExecStart=$(BINDIR)/spikeloop|ExecStart=$$exe|" $(STAGE)/spikeloop.service > "$$dir/$$form/spikeloop.service" && \
	    if [ "$$form" != unit ]; then install -D -m 0644 systemd/cpu-latency.conf "$$dir/$$form/spikeloop.service.d/cpu-latency.conf"; fi && \
	    out=$$(systemd-analyze verify "$$dir/$$form/spikeloop.service" 2>&1) && [ -z "$$out" ] || { echo "$$form: $$out"; exit 1; }; \
	    echo "systemd-analyze verify ($$form): ok" && \
	    systemd-analyze security --offline=yes --no-pager --threshold=$$threshold "$$dir/$$form/spikeloop.service" | tail -1 || exit 1; \
	done && \
	echo "limit: $(MAX_EXPOSURE) (MAX_EXPOSURE)"

clean-stage:
	rm -rf $(STAGE)
