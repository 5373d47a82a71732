#!/usr/bin/env bash
# Renders an HTML page (e.g. the output of ./sdpo explain) in headless Chromium and writes a PNG.
# Debian: apt-get install chromium. Usage: tools/screenshot.sh page.html out.png [width] [height]
set -euo pipefail
page="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
out="$2"
size="${3:-1280},${4:-1600}"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" \
  --window-size="$size" --screenshot="$out" "file://$page" 2>/dev/null
echo "wrote $out"
