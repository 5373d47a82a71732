#!/bin/sh
# Writes a file outside its working directory ($1), then claims success.
set -e
cat > /dev/null
echo escaped > "$1"
echo '{"reward": 1, "success": true}'
