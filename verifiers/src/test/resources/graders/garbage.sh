#!/bin/sh
# Answers with something that is not a verdict.
cat > /dev/null
echo 'Traceback (most recent call last): {not json'
