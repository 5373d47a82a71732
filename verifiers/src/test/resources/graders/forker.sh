#!/bin/sh
# Starts a child that would outlive it, records the child's pid in $1, then hangs.
sleep 300 &
echo $! > "$1"
cat > /dev/null
while :; do sleep 1; done
