#!/usr/bin/env bash
# Refreshes the front-end libraries embedded in the binary from the npm registry.
# The copies are committed, so a normal build needs neither node nor network.
set -euo pipefail
cd "$(dirname "$0")/.."
npm install --no-audit --no-fund --ignore-scripts
dest=crates/papilio-web/assets/vendor
mkdir -p "$dest"
cp node_modules/htmx.org/dist/htmx.min.js "$dest/htmx.min.js"
cp node_modules/echarts/dist/echarts.min.js "$dest/echarts.min.js"
echo "vendored into $dest"
