#!/bin/sh
# Holds an endless line in memory.
set -e
cat > /dev/null
tail -n 1 /dev/zero > /dev/null
echo '{"reward": 1, "success": true}'
