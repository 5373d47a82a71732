#!/bin/sh
# A correct grader: success if the attempt is exactly "42".
input=$(cat)
case "$input" in
  *'"attempt":"42"'*) echo '{"reward": 1, "success": true, "feedback": ""}' ;;
  *) echo '{"reward": 0, "success": false, "summary": "Wrong Answer", "feedback": "expected 42", "details": {"checked": 1}}' ;;
esac
