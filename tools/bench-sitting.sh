#!/usr/bin/env bash
# One sitting of the CPU comparison in bench/README.md: `./sdpo bench model` on the JDK on PATH
# (and on a JDK 25 under /usr/lib/jvm where one is installed) against tools/bench_torch_gpt.py
# (PyTorch on the same OpenBLAS, one torch thread, two OpenBLAS threads), at the tiny shape, the
# demo's shape and a medium shape, in rounds that interleave the sides (these machines are
# noisy: a slow phase then slows every side of one round instead of one side of the table).
# Prints a Markdown table of every round's numbers and the ratio against PyTorch; the raw output
# of each run goes to OUT.
#
#   tools/bench-sitting.sh [--rounds N] [--shapes tiny,demo,medium] [--out DIR] [--no-torch]
#
# Needs a built launcher (./sdpo builds itself) and, for the PyTorch side, /usr/bin/python3 with
# torch and the OpenBLAS that ND4J's JavaCPP unpacks under ~/.javacpp (run ./sdpo once first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds=2
shapes=tiny,demo,medium
out=""
torch=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --shapes) shapes="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-torch) torch=0; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-sitting: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
out="${out:-$(mktemp -d /tmp/sdpo-sitting-XXXXXX)}"
mkdir -p "$out"

shape_args() {
  case "$1" in
    tiny) echo "--vocab 64 --ctx 64 --batch 16" ;;
    demo) echo "--vocab 100 --ctx 32 --batch 128" ;;
    medium) echo "--vocab 96 --ctx 256 --n-embd 256 --n-layer 6 --n-head 8 --batch 8" ;;
    *) echo "bench-sitting: unknown shape $1 (tiny, demo or medium)" >&2; exit 2 ;;
  esac
}
# medians of 20 steps after 10 (medium: 10 after 3), sampling the best of 15 runs (medium: 3)
ours_steps() { [ "$1" = medium ] && echo "--steps 10 --warmup 3 --sample-runs 3" \
  || echo "--steps 20 --warmup 10 --sample-runs 15"; }
torch_steps() { [ "$1" = medium ] && echo "--steps 10 --sample-runs 3" \
  || echo "--steps 20 --sample-runs 15"; }

# the JDK on PATH (the side called jdk17, JDK 17 on the machine these tables come from), and a
# JDK 25 under /usr/lib/jvm as a second side where it is another JDK
major_of() { sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" 2> /dev/null; }
default_jdk="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
default_major="$(major_of "$default_jdk")"
sides=(jdk17)
jdk25="$(find /usr/lib/jvm -maxdepth 1 -name '*25*' -type d 2> /dev/null | head -1)"
if [ -n "$jdk25" ] && [ -x "$jdk25/bin/java" ] && [ "$(major_of "$jdk25")" != "$default_major" ]; then
  sides+=(jdk25)
fi
openblas=""
if [ "$torch" = 1 ]; then
  openblas="$(find "$HOME/.javacpp" -name libopenblas.so.0 2> /dev/null | head -1)"
  if [ -n "$openblas" ] && /usr/bin/python3 -c 'import torch' 2> /dev/null; then
    sides+=(torch)
  else
    echo "bench-sitting: no PyTorch side (needs /usr/bin/python3 with torch and ND4J's OpenBLAS)" >&2
  fi
fi

./sdpo --version > /dev/null 2>&1 || true # builds the launcher before the first timed run
echo "bench-sitting: $(date -u '+%Y-%m-%d %H:%M UTC'), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, sides: ${sides[*]}, rounds: $rounds, raw output in $out" >&2
IFS=, read -r -a shape_list <<< "$shapes"
for r in $(seq 1 "$rounds"); do
  for shape in "${shape_list[@]}"; do
    for side in "${sides[@]}"; do
      log="$out/$shape-$side-$r.txt"
      case "$side" in
        jdk17) ./sdpo bench model $(shape_args "$shape") $(ours_steps "$shape") > "$log" 2>&1 ;;
        jdk25) PATH="$jdk25/bin:$PATH" ./sdpo bench model $(shape_args "$shape") \
          $(ours_steps "$shape") > "$log" 2>&1 ;;
        torch) LD_PRELOAD="$openblas" OPENBLAS_NUM_THREADS=2 /usr/bin/python3 \
          tools/bench_torch_gpt.py --threads 1 $(shape_args "$shape") $(torch_steps "$shape") \
          > "$log" 2>&1 ;;
      esac
      echo "bench-sitting: round $r, $shape, $side done" >&2
    done
  done
done

# one number from a run's output: train (median ms), gflops, sample (best ms) or peak (MB)
value() {
  local f="$1" what="$2"
  case "$what" in
    train) sed -n 's/.*train step.* median \([0-9.]*\) ms.*/\1/p' "$f" | head -1 ;;
    gflops) sed -n 's/.*train step.* \([0-9.]*\) GFLOP\/s.*/\1/p' "$f" | head -1 ;;
    sample) sed -n 's/^sampling .* best of [0-9]* \([0-9.]*\) ms.*/\1/p' "$f" | head -1 ;;
    peak) sed -n 's/^peak resident memory: \([0-9.]*\) \(MB\|GB\).*/\1 \2/p' "$f" | head -1 \
      | awk '{ printf "%.0f", $2 == "GB" ? $1 * 1000 : $1 }' ;;
  esac
}
# the rounds of one side, "a / b / c"
rounds_of() {
  local shape="$1" side="$2" what="$3" vals=()
  for r in $(seq 1 "$rounds"); do
    vals+=("$(value "$out/$shape-$side-$r.txt" "$what")")
  done
  local IFS=/
  echo "${vals[*]}" | sed 's#/# / #g'
}
# ours (the JDK on PATH) against PyTorch, round by round: "1.02-1.10x slower" (or faster)
ratio() {
  local shape="$1" what="$2" lo="" hi=""
  for r in $(seq 1 "$rounds"); do
    local a b
    a="$(value "$out/$shape-jdk17-$r.txt" "$what")"
    b="$(value "$out/$shape-torch-$r.txt" "$what")"
    [ -n "$a" ] && [ -n "$b" ] || continue
    local q
    q="$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }')"
    lo="$(awk -v q="$q" -v m="${lo:-$q}" 'BEGIN { print (q < m ? q : m) }')"
    hi="$(awk -v q="$q" -v m="${hi:-$q}" 'BEGIN { print (q > m ? q : m) }')"
  done
  [ -n "$lo" ] || { echo "-"; return; }
  if [ "$lo" = "$hi" ]; then # one round
    awk -v q="$lo" 'BEGIN { printf (q <= 1 ? "%.2fx faster" : "%.2fx slower"), (q <= 1 ? 1 / q : q) }'
    return
  fi
  if awk -v h="$hi" 'BEGIN { exit !(h <= 1) }'; then
    awk -v l="$lo" -v h="$hi" 'BEGIN { printf "%.2f-%.2fx faster", 1 / h, 1 / l }'
  elif awk -v l="$lo" 'BEGIN { exit !(l >= 1) }'; then
    awk -v l="$lo" -v h="$hi" 'BEGIN { printf "%.2f-%.2fx slower", l, h }'
  else
    awk -v l="$lo" -v h="$hi" 'BEGIN { printf "%.2fx faster to %.2fx slower", 1 / l, h }'
  fi
}

header="| shape | what |"
rule="|---|---|"
for side in "${sides[@]}"; do
  case "$side" in
    jdk17) header+=" ours, JDK ${default_major:-?} |" ;;
    jdk25) header+=" ours, JDK $(major_of "$jdk25") |" ;;
    torch) header+=" PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2> /dev/null) |" ;;
  esac
  rule+="---:|"
done
[[ " ${sides[*]} " == *" torch "* ]] && { header+=" JDK ${default_major:-?} against PyTorch |"; rule+="---:|"; }
echo "$header"
echo "$rule"
for shape in "${shape_list[@]}"; do
  for what in train gflops sample peak; do
    case "$what" in
      train) label="train step, median (ms)" ;;
      gflops) label="train step (GFLOP/s)" ;;
      sample) label="sampling, best (ms)" ;;
      peak) label="peak resident memory (MB)" ;;
    esac
    row="| $shape | $label |"
    for side in "${sides[@]}"; do
      row+=" $(rounds_of "$shape" "$side" "$what") |"
    done
    if [[ " ${sides[*]} " == *" torch "* ]]; then
      case "$what" in
        train|sample) row+=" $(ratio "$shape" "$what") |" ;;
        *) row+=" |" ;;
      esac
    fi
    echo "$row"
  done
done
