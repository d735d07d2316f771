# hangar: `make run` starts a node with the bundled hello example; `make test` runs every test.
SHELL := /bin/bash
NODE_MODULES := node_modules/.package-lock.json
NATIVE := build/bin/hangar-shim build/bin/hangar-idmount build/bin/hello
HELLO_IMAGE := build/images/hello.oci.tar

.PHONY: all deps build native images run test test-unit test-integration test-conformance bench clean

all: build

deps: build/.deps-ok $(NODE_MODULES)

# Debian packages the node and the tests use; installed only when one is missing.
build/.deps-ok: scripts/install-deps.sh
	@bash scripts/install-deps.sh
	@mkdir -p build && touch $@

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

native: $(NATIVE)

build/bin/hangar-shim: native/hangar-shim.c
	@mkdir -p build/bin
	gcc -O2 -Wall -Wextra -static -o $@ $<

# The host-side mounts of a runc sandbox (writable root, ROM images, its netns's sysfs).
build/bin/hangar-idmount: native/hangar-idmount.c
	@mkdir -p build/bin
	gcc -O2 -Wall -Wextra -static -o $@ $<

# Test helper run inside sandboxes (test/integration/runtime): probes io_uring_setup.
build/bin/uring-probe: native/uring-probe.c
	@mkdir -p build/bin
	gcc -O2 -Wall -Wextra -static -o $@ $<

build/bin/hello: native/hello.c
	@mkdir -p build/bin
	gcc -O2 -Wall -Wextra -static -o $@ $<

build: deps native dist/.built

dist/.built: $(shell find src test bench -name '*.ts' 2>/dev/null) tsconfig.json $(NODE_MODULES)
	npx tsc -p tsconfig.json
	@touch $@

images: build $(HELLO_IMAGE)

$(HELLO_IMAGE): build/bin/hello dist/.built
	node dist/scripts/make-hello-image.js $@

run: images
	bash scripts/run.sh

test: images
	bash scripts/test.sh

test-unit: build
	node --test --test-reporter=spec dist/test/unit

bench: images
	node dist/bench/run.js

clean:
	rm -rf dist build
