# Studio — build, package and test. Every target installs what it needs (scripts/setup-host.sh).
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

VERSION := $(shell sed -n 's/.*string = "\(.*\)"/\1/p' Sources/StudioCore/StudioVersion.swift)
DEB := out/studio_$(VERSION)-1_amd64.deb

.PHONY: all setup build unit-test deb system-test vm-test test demo demo-stop bench clean

all: build

setup:
	@scripts/setup-host.sh

build: setup
	swift build

unit-test: setup
	swift test

# The .deb, built by dpkg-buildpackage from a staged tree, then checked by lintian (no errors, no warnings).
deb: setup
	packaging/build-deb.sh out

# Boots a fresh Debian machine under systemd-nspawn, installs the .deb with apt and checks it from outside.
system-test: deb
	tests/system/run.sh $(DEB)

# Boots the .deb in a Debian VM under qemu (its own kernel, cgroup v2) and checks what only a real kernel shows:
# memory, task and CPU limits enforced, CPU shared by weight, the slice's total cap, usage figures.
vm-test: deb
	tests/vm/run.sh $(DEB)

# Everything CI runs.
test: unit-test system-test vm-test

# A throwaway machine with Studio installed and a demo user, left running; `make demo-stop` removes it.
demo: deb
	tests/system/demo.sh $(DEB)

demo-stop:
	tests/system/testbed.sh down studio-demo

# Figures beside their peers (issue 11), measured in one run in a throwaway machine (not part of the tests);
# BENCH_ARGS="--only web,terminal --rounds 5" for some of them (bench/run.sh --help).
bench: deb
	bench/run.sh $(BENCH_ARGS) $(DEB)

clean:
	rm -rf .build .build-release out
