#!/usr/bin/env bash
# Reproducible measurements on a release build: the engine benches, the end-to-end scale story
# (validate / apply / plan at 100, 1,000 and 10,000 objects against `tenantsync serve`, each
# with its floor and ratio; daemon latency and memory), and the server load test with wrk.
# Results: markdown on stdout, JSON under benches/results/. Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p benches/results
cargo build --release --quiet
echo "## The pure engine (cargo bench --bench engine, criterion)"
cargo bench --quiet --bench engine 2>/dev/null | grep -E '^[a-z]|time:'
echo
echo "## Manifest loading (cargo bench --bench manifest_load)"
cargo bench --quiet --bench manifest_load 2>/dev/null | grep '^|'
echo
echo "## Plan and apply at 8,000 objects (cargo bench --bench plan_scale)"
cargo bench --quiet --bench plan_scale 2>/dev/null | grep '^|'
echo
echo "## The daemon's web page at 10,000 objects (cargo bench --bench ui_render)"
cargo bench --quiet --bench ui_render 2>/dev/null | grep '^|'
echo
echo "## Shared state on PostgreSQL (benches/with_postgres.sh cargo bench --bench postgres_state)"
benches/with_postgres.sh cargo bench --quiet --bench postgres_state 2>/dev/null | grep '^|'
echo
echo "## End to end with the real binary (cargo bench --bench scale)"
cargo bench --quiet --bench scale 2>/dev/null | grep '^|'
echo
echo "## One plan across three environments (cargo bench --bench environments)"
cargo bench --quiet --bench environments 2>/dev/null | grep '^|'
echo
echo "## Cost proportional to the change, sync --rate 20 (cargo bench --bench targeted; ~12 min)"
cargo bench --quiet --bench targeted 2>/dev/null | grep '^|'
echo
echo "## Server under load (benches/server_load.sh)"
DURATION=${DURATION:-10s} benches/server_load.sh | grep -E '^\||stored'
echo
echo "machine: $(nproc) cores, $(date -u +%F)"
