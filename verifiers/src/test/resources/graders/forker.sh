#!/bin/sh
# Starts a child that would outlive it (sleep 2718), then hangs.
sleep 2718 &
cat > /dev/null
while :; do sleep 1; done
