#!/usr/bin/env bash
# tools/demo-reproduces.sh: runs the full ./sdpo demo into a temporary run directory and cache
# (so the base model is pre-trained again, as on a fresh clone) and checks that every number of
# its comparison (the accuracy table and the "reached ... fewer" lines) equals the README's
# recorded output, to the last digit. Prints the wall time and peak resident memory.
#
# Run it before saying a change keeps results ("bit-identical"): a short regression run can miss
# what only a later step of one arm shows (bench/README.md, "OpenBLAS's threads": a change that
# kept the 60-step SDPO run moved the GRPO arm's last accuracies). About 5-7 minutes on 2 cores.
# The recorded numbers are those of the README's machine: OpenBLAS's results depend on its thread
# count and CPU kernels, so on another machine a difference says that, not a regression.
#
#   tools/demo-reproduces.sh            exit 0 when every number matches, 1 when one differs
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# the recorded block: from the table's header line to the line before "time:"
recorded() {
  awk '/^ generations +grpo avg@2/{on=1} on && /^time:/{exit} on' "$ROOT/README.md" \
    | grep -E '^ +[0-9]+ +[0-9.]+|reached' || true
}
expected="$(recorded)"
if [[ -z "$expected" ]]; then
  echo "demo-reproduces: no recorded demo output found in README.md" >&2
  exit 2
fi

echo "demo-reproduces: running ./sdpo demo into $WORK (fresh cache) ..." >&2
TIMEFMT=()
if [[ -x /usr/bin/time ]]; then
  TIMEFMT=(/usr/bin/time -f "wall %e s, peak resident %M KiB")
fi
(cd "$ROOT" && "${TIMEFMT[@]}" ./sdpo demo --out "$WORK/demo" --cache "$WORK/cache") \
  > "$WORK/out.txt" 2> "$WORK/err.txt" || {
  echo "demo-reproduces: ./sdpo demo failed; its last lines:" >&2
  tail -5 "$WORK/err.txt" >&2
  exit 2
}
tail -1 "$WORK/err.txt" | grep -E '^wall ' >&2 || true
actual="$(grep -E '^ +[0-9]+ +[0-9.]+ +[0-9.]+|reached' "$WORK/out.txt" || true)"
if [[ "$expected" == "$actual" ]]; then
  echo "demo-reproduces: every number matches the README ($(echo "$expected" | wc -l) lines)"
  exit 0
fi
echo "demo-reproduces: the demo's numbers differ from the README's (- recorded, + now):"
diff <(echo "$expected") <(echo "$actual") | grep -E '^[<>]' | sed 's/^</-/; s/^>/+/'
exit 1
