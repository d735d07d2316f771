#!/usr/bin/env bash
# Runs every test: unit, integration (real runc sandboxes, CNI, SQLite) and
# conformance (the unmodified @unikraft/cloud SDK). Needs root, like the node.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then echo "make test needs root (sandboxes, network namespaces, cgroups)" >&2; exit 1; fi
export HANGAR_LOG_LEVEL="${HANGAR_LOG_LEVEL:-warn}"
dirs=(dist/test/unit dist/test/integration dist/test/conformance)
# One runner, one file at a time: integration files each start a node with its
# own bridge and subnet, but share the machine's 2 cores and cgroup tree.
exec node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec "${dirs[@]}"
