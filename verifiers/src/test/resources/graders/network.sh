#!/bin/sh
# Connects to 127.0.0.1:$1, then claims success.
set -e
cat > /dev/null
bash -c "echo hello > /dev/tcp/127.0.0.1/$1"
echo '{"reward": 1, "success": true}'
