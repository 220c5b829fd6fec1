#!/bin/bash
# scripts/serve.sh [server options]: install what is missing, build roadstore
# (Release, into build/) and run the all-in-one server in the foreground.
#
# Defaults (CONTRACT.md): data in ./data, listening on 127.0.0.1:9000, root
# credentials from ROADSTORE_ACCESS_KEY / ROADSTORE_SECRET_KEY or generated
# on first start and printed.  Extra arguments go to `roadstore server`, e.g.
#   ./scripts/serve.sh --listen 0.0.0.0:9000 --data /srv/roadstore
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target roadstore
exec build/roadstore server "$@"
