#!/bin/sh
# Never answers.
cat > /dev/null
while :; do :; done
