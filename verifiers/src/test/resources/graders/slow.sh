#!/bin/sh
# Slow but within the timeout.
cat > /dev/null
sleep 0.4
echo '{"reward": 1, "success": true}'
