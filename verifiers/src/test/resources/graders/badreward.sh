#!/bin/sh
cat > /dev/null
echo '{"reward": 7, "success": true}'
