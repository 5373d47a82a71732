#!/bin/sh
# Writes into its private working directory and says where it was.
set -e
cat > /dev/null
echo data > "$SDPO_WORKDIR/notes.txt"
echo "{\"reward\": 1, \"success\": true, \"details\": {\"dir\": \"$SDPO_WORKDIR\", \"home\": \"$HOME\"}}"
