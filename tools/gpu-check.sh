#!/usr/bin/env bash
# The GPU check, run from the GPU bundle (tools/gpu-bundle.sh) on a machine with an NVIDIA GPU,
# its driver and the CUDA 13 libraries; no Java needed. A few minutes; prints one line per check
# and ends with "N passed, N failed":
#   1. every Backend method of the CUDA backend against the reference backend (plain double
#      loops), GPT-2 / Llama / Qwen2 / Qwen3 forward and backward against PyTorch fixtures and the
#      CPU in float64 and float32 (and TF32), three training steps against the CPU, recorded
#      steps against stepwise ones (GpuCheck);
#   2. ./sdpo bench model on the GPU: the demo's shape and GPT-2 124M in float32 and in bf16 mixed
#      precision (train step, tokens/s, kernel launches per step, the step recorded as a CUDA
#      graph, sampling), and for the comparisons the demo's shape once more with nothing recorded,
#      GPT-2's bf16 step without the cast cache (SDPO_CUDA_CAST_CACHE_MB=0), without cuBLASLt's
#      bias epilogue (SDPO_CUDA_BIAS_EPILOGUE=0), GPT-2's steps with the flash attention
#      kernels (SDPO_ATTENTION=flash; in bf16 on the tensor cores, and once more on the CUDA
#      cores with SDPO_FLASH_TENSOR_CORES=0), GPT-2's bf16 step with attention's heads copied
#      (SDPO_CUDA_HEADS_IN_PLACE=0), GPT-2's bf16 step with the logits' rows as they lie
#      (SDPO_CUDA_PAD_ROWS=0) and with only the operands' padded (=operands), and GPT-2's
#      sampling drawn on the host
#      (SDPO_CUDA_DEVICE_SAMPLING=0);
#   3. ./sdpo demo end to end on the GPU (about 30 s on an H200; --fake: demo --micro), and
#      ./sdpo bench sdpo on a GPT-2 124M of random weights with GPT-2's tokenizer (50,257 words):
#      one GRPO and one SDPO step by phase, float32 and bf16, the update's logits in chunks of
#      32 MiB (the default, sized for a CPU), of 512 MiB and all at once;
#   4. where python3 has PyTorch with CUDA, the same models in PyTorch (eager; float32, and GPT-2
#      124M under bfloat16 autocast too, with the explicit softmax and, from PyTorch 2.0, with its
#      fused attention) on the card;
#   5. a kernel-by-kernel profile of GPT-2's bf16 step with the flash attention kernels.
#
#   ./gpu-check.sh            on the GPU
#   ./gpu-check.sh --fake     the same script on the fake device (host memory), tiny shapes
#   ./gpu-check.sh --parts compare,profile
#                             only the parts named, of: correctness (1), bench (2's main runs),
#                             compare (2's runs with one feature off), demo (3's demo), sdpo
#                             (3's SDPO steps), torch (4),
#                             profile (5); all by default. Each step prints its seconds, so a
#                             short loan can be spent on the parts still missing.
#   ./gpu-check.sh --budget-s 480
#                             starts no step after 480 s: the rest print SKIP (not counted as
#                             passed or failed), so a run under a time limit (a lent machine's
#                             10 minutes a command) still ends with its summary
# Environment: SDPO_CUDA_PATH (folder of libcublas.so.13), SDPO_CUDA_DEBUG=1, PYTHON (python3).
set -uo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JAVA="$DIR/runtime/bin/java"
PYTHON="${PYTHON:-python3}"
FAKE=0
PARTS="correctness,bench,compare,demo,sdpo,torch,profile"
BUDGET=0 # seconds after which no step starts; 0: none
while (($#)); do
  case "$1" in
    --fake) FAKE=1 ;;
    --parts) PARTS="${2:?--parts needs a list, e.g. --parts bench,torch}"; shift ;;
    --budget-s)
      BUDGET="${2:-}"
      if [[ ! "$BUDGET" =~ ^[1-9][0-9]*$ ]]; then
        echo "gpu-check: --budget-s needs a whole number of seconds above 0, got '${2:-}'" >&2
        exit 2
      fi
      shift ;;
    *) echo "gpu-check: unknown option '$1' (--fake, --parts LIST, --budget-s SECONDS)" >&2; exit 2 ;;
  esac
  shift
done
for p in ${PARTS//,/ }; do
  case "$p" in
    correctness|bench|compare|demo|sdpo|torch|profile) ;;
    *) echo "gpu-check: unknown part '$p' (correctness, bench, compare, demo, sdpo, torch, profile)" >&2
      exit 2 ;;
  esac
done
want() { [[ ",$PARTS," == *",$1,"* ]]; }
if [[ ! -x "$JAVA" ]]; then
  echo "gpu-check: run me from the GPU bundle (tools/gpu-bundle.sh makes it): no $JAVA" >&2
  exit 2
fi
passed=0
failed=0
skipped=()
over_budget() { # name: true (and the step is listed as skipped) once the budget is spent
  if ((BUDGET > 0 && SECONDS >= BUDGET)); then
    skipped+=("$1")
    echo "SKIP $1 (past the budget of $BUDGET s)"
    return 0
  fi
  return 1
}
count() { # "N passed, M failed" lines of a log, added to the totals
  local line
  line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -1)"
  if [[ -n "$line" ]]; then
    passed=$((passed + $(cut -d' ' -f1 <<<"$line")))
    failed=$((failed + $(cut -d' ' -f3 <<<"$line")))
  else
    failed=$((failed + 1))
    echo "FAIL $2: no summary (crashed?)"
  fi
}
step() { # name, command...: one check that passes when the command exits 0
  local name="$1" start=$SECONDS rc
  shift
  over_budget "$name" && return 0
  echo "== $name"
  if "$@"; then
    passed=$((passed + 1))
    echo "PASS $name ($((SECONDS - start)) s)"
  else
    rc=$?
    failed=$((failed + 1))
    echo "FAIL $name (exit $rc, $((SECONDS - start)) s)"
  fi
}

echo "== machine: $(uname -srm), bundle $(cat "$DIR/VERSION" 2>/dev/null)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
  --format=csv,noheader
if ((FAKE)); then
  export SDPO_DEVICE=cuda-fake
  fake_arg=(--fake)
  examples=2
  demo_args=(--micro)
  demo=(--vocab 64 --ctx 8 --batch 2 --n-layer 1 --steps 2 --warmup 1 --sample-runs 1)
  gpt2=(--vocab 64 --ctx 8 --n-embd 48 --n-layer 1 --n-head 3 --batch 2 --steps 2 --warmup 1 --sample-runs 1)
  sdpo_model=(--layers 1 --hidden 16 --heads 2 --positions 64)
  sdpo=(--questions 1 --group 2 --max-new 4 --rounds 1)
  sdpo_chunks=(0.5) # 2 rows of GPT-2's logits in float32 (all at once: GpuCheck's chunkedUpdate)
else
  export SDPO_DEVICE=cuda
  fake_arg=()
  examples=10
  demo_args=()
  demo=(--vocab 100 --ctx 32 --batch 128)
  gpt2=(--vocab 50257 --ctx 1024 --n-embd 768 --n-layer 12 --n-head 12 --batch 8 --steps 10 --warmup 3 --sample-runs 1)
  sdpo_model=(--layers 12 --hidden 768 --heads 12 --positions 1024)
  sdpo=(--questions 8 --group 8 --max-new 64 --rounds 3)
  sdpo_chunks=(32 512 0)
fi

if want correctness && ! over_budget "correctness (GpuCheck)"; then
  echo "== correctness (GpuCheck)"
  start=$SECONDS
  log="$(mktemp)"
  "$JAVA" -Xmx8g --add-modules jdk.incubator.vector -Djava.awt.headless=true \
    -cp "$DIR/lib/*:$DIR/check/*" org.sdpo.cli.GpuCheck "${fake_arg[@]}" --examples "$examples" \
    --fixtures "$DIR/check/fixtures" 2>&1 | tee "$log"
  count "$log" GpuCheck
  echo "== correctness took $((SECONDS - start)) s"
fi

if want bench; then
  step "bench, the demo's shape (${demo[*]})" "$DIR/sdpo" bench model "${demo[@]}"
  step "bench, the demo's shape, nothing recorded (SDPO_CUDA_GRAPHS=0)" \
    env SDPO_CUDA_GRAPHS=0 "$DIR/sdpo" bench model "${demo[@]}"
  step "bench, GPT-2 124M (${gpt2[*]})" "$DIR/sdpo" bench model "${gpt2[@]}"
  step "bench, GPT-2 124M, bf16 (SDPO_CUDA_PRECISION=bf16)" \
    env SDPO_CUDA_PRECISION=bf16 "$DIR/sdpo" bench model "${gpt2[@]}"
fi
if want compare; then
  # GPT-2's training step (no sampling) with one setting changed: a label, then NAME=value pairs
  compare() {
    local label="$1"
    shift
    step "bench, GPT-2 124M, $label" env "$@" "$DIR/sdpo" bench model \
      "${gpt2[@]:0:${#gpt2[@]}-2}" --sample-runs 0
  }
  compare "bf16, every operand cast per product (SDPO_CUDA_CAST_CACHE_MB=0)" \
    SDPO_CUDA_PRECISION=bf16 SDPO_CUDA_CAST_CACHE_MB=0
  compare "bf16, biases added after the products (SDPO_CUDA_BIAS_EPILOGUE=0)" \
    SDPO_CUDA_PRECISION=bf16 SDPO_CUDA_BIAS_EPILOGUE=0
  compare "bf16, flash attention (SDPO_ATTENTION=flash)" \
    SDPO_CUDA_PRECISION=bf16 SDPO_ATTENTION=flash
  compare "bf16, flash attention on CUDA cores (SDPO_FLASH_TENSOR_CORES=0)" \
    SDPO_CUDA_PRECISION=bf16 SDPO_ATTENTION=flash SDPO_FLASH_TENSOR_CORES=0
  compare "float32, flash attention (SDPO_ATTENTION=flash)" SDPO_ATTENTION=flash
  compare "bf16, attention's heads copied (SDPO_CUDA_HEADS_IN_PLACE=0)" \
    SDPO_CUDA_PRECISION=bf16 SDPO_CUDA_HEADS_IN_PLACE=0
  compare "bf16, product rows as they lie (SDPO_CUDA_PAD_ROWS=0)" \
    SDPO_CUDA_PRECISION=bf16 SDPO_CUDA_PAD_ROWS=0
  compare "bf16, only the operands' rows padded (SDPO_CUDA_PAD_ROWS=operands)" \
    SDPO_CUDA_PRECISION=bf16 SDPO_CUDA_PAD_ROWS=operands
  step "bench, GPT-2 124M, sampling on the host (SDPO_CUDA_DEVICE_SAMPLING=0)" \
    env SDPO_CUDA_DEVICE_SAMPLING=0 "$DIR/sdpo" bench model "${gpt2[@]:0:${#gpt2[@]}-6}" \
    --steps 1 --warmup 1 --sample-runs 1
fi
if want demo; then
  demo_dir="$(mktemp -d)"
  step "the demo, end to end (./sdpo demo ${demo_args[*]})" \
    bash -c 'cd "$1" && shift && "$@"' _ "$demo_dir" "$DIR/sdpo" demo "${demo_args[@]}"
  rm -rf "$demo_dir"
fi
if want sdpo; then
  # a GPT-2 124M of random weights (the same seed every run) with GPT-2's tokenizer: the addition
  # environment's questions, 64 attempts of up to 64 tokens, every attempt failing with feedback
  sdpo_dir="$(mktemp -d)"
  step "init, GPT-2 124M of random weights with GPT-2's tokenizer (${sdpo_model[*]})" \
    bash -c 'tar -xzf "$1" -C "$2" && shift 2 && "$@"' _ "$DIR/check/gpt2-tokenizer.tar.gz" \
    "$sdpo_dir" "$DIR/sdpo" init --arch gpt2 "${sdpo_model[@]}" --tokenizer "$sdpo_dir/gpt2" \
    --seed 1 --out "$sdpo_dir/model"
  for precision in fp32 bf16; do
    for mb in "${sdpo_chunks[@]}"; do
      step "bench sdpo, GPT-2 124M, $precision, logits in chunks of $mb MiB (0: all at once)" \
        env SDPO_CUDA_PRECISION="$precision" "$DIR/sdpo" bench sdpo --model "$sdpo_dir/model" \
        "${sdpo[@]}" --logits-chunk-mb "$mb"
    done
  done
  rm -rf "$sdpo_dir"
fi
if want torch; then
  if ((!FAKE)) && "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    step "PyTorch, the demo's shape" "$PYTHON" "$DIR/tools/bench_torch_gpt.py" --device cuda --threads 1 "${demo[@]:0:6}"
    step "PyTorch, GPT-2 124M" "$PYTHON" "$DIR/tools/bench_torch_gpt.py" --device cuda --threads 1 \
      --vocab 50257 --ctx 1024 --n-embd 768 --n-layer 12 --n-head 12 --batch 8 --steps 10 \
      --sample-runs 1
    step "PyTorch, GPT-2 124M, bf16 autocast" "$PYTHON" "$DIR/tools/bench_torch_gpt.py" --device cuda \
      --threads 1 --vocab 50257 --ctx 1024 --n-embd 768 --n-layer 12 --n-head 12 --batch 8 \
      --steps 10 --sample-runs 1 --amp bf16
    if "$PYTHON" -c 'import torch, sys; sys.exit(0 if hasattr(torch.nn.functional, "scaled_dot_product_attention") else 1)'; then
      step "PyTorch, GPT-2 124M, bf16 autocast, fused attention (--sdpa)" "$PYTHON" \
        "$DIR/tools/bench_torch_gpt.py" --device cuda --threads 1 --vocab 50257 --ctx 1024 \
        --n-embd 768 --n-layer 12 --n-head 12 --batch 8 --steps 10 --sample-runs 0 --amp bf16 --sdpa
    fi
  else
    echo "== PyTorch with CUDA not found (or --fake): no PyTorch comparison"
  fi
fi
# last, for the next round of work: where the bf16 step's time goes with the flash attention
# kernels, each kernel timed alone (SDPO_CUDA_PROFILE=1; nothing recorded, 3 steps)
if want profile; then
  step "profile, GPT-2 124M, bf16, flash attention (SDPO_CUDA_PROFILE=1)" \
    env SDPO_CUDA_PRECISION=bf16 SDPO_ATTENTION=flash SDPO_CUDA_GRAPHS=0 SDPO_CUDA_PROFILE=1 \
    "$DIR/sdpo" bench model "${gpt2[@]:0:${#gpt2[@]}-6}" --steps 3 --warmup 1 --sample-runs 0
fi
echo "== total $SECONDS s (parts: $PARTS)"
if ((${#skipped[@]})); then
  echo "== ${#skipped[@]} skipped past the budget of $BUDGET s (run them with --parts):"
  printf '   %s\n' "${skipped[@]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
