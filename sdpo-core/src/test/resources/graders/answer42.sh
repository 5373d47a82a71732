#!/bin/sh
# Success if the attempt is exactly "42"; otherwise says so.
input=$(cat)
case "$input" in
  *'"attempt":"42"'*) echo '{"reward": 1, "success": true}' ;;
  *) echo '{"reward": 0, "success": false, "summary": "Wrong Answer", "feedback": "expected 42"}' ;;
esac
