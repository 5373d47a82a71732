#!/bin/sh
# Fails with "visible" if the file $1 exists for it, succeeds with "hidden" otherwise.
cat > /dev/null
if [ -e "$1" ]; then
  echo '{"reward": 0, "success": false, "feedback": "visible"}'
else
  echo '{"reward": 1, "success": true, "feedback": "hidden"}'
fi
