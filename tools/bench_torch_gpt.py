#!/usr/bin/env python3
"""The PyTorch peer of `./sdpo bench model`: the same GPT-2, the same shape options with the same
defaults (--vocab 64 --ctx 64 --n-embd 128 --n-layer 4 --n-head 4 --batch 16), a training step
(forward, backward, clipping, AdamW) and KV-cache sampling of batch prompts x (ctx - 1) new
tokens, on the CPU, with the same FLOP count and the peak resident memory.

Debian's python3-torch links the slow reference BLAS; for a fair peer preload an optimised
OpenBLAS (the one ND4J's JavaCPP unpacks works) and keep 2 threads in all:

    LD_PRELOAD=$(find ~/.javacpp -name libopenblas.so.0 | head -1) OPENBLAS_NUM_THREADS=2 \\
        /usr/bin/python3 tools/bench_torch_gpt.py --threads 1
"""
import argparse
import math
import time

import torch


class Gpt(torch.nn.Module):
    def __init__(self, V, P, C, L, H, sdpa=False):
        super().__init__()
        self.H = H
        self.sdpa = sdpa
        self.wte = torch.nn.Embedding(V, C)
        self.wpe = torch.nn.Embedding(P, C)
        self.blocks = torch.nn.ModuleList()
        for _ in range(L):
            self.blocks.append(torch.nn.ModuleDict(dict(
                ln_1=torch.nn.LayerNorm(C), c_attn=torch.nn.Linear(C, 3 * C),
                c_proj=torch.nn.Linear(C, C), ln_2=torch.nn.LayerNorm(C),
                c_fc=torch.nn.Linear(C, 4 * C), mlp_proj=torch.nn.Linear(4 * C, C))))
        self.ln_f = torch.nn.LayerNorm(C)

    def forward(self, ids, cache=None, offset=0):
        B, T = ids.shape
        C = self.wte.weight.shape[1]
        D = C // self.H
        x = self.wte(ids) + self.wpe(torch.arange(offset, offset + T, device=ids.device))
        new_cache = []
        for i, b in enumerate(self.blocks):
            q, k, v = b["c_attn"](b["ln_1"](x)).split(C, dim=2)
            q = q.view(B, T, self.H, D).transpose(1, 2)
            k = k.view(B, T, self.H, D).transpose(1, 2)
            v = v.view(B, T, self.H, D).transpose(1, 2)
            if cache is not None:
                k = torch.cat([cache[i][0], k], dim=2)
                v = torch.cat([cache[i][1], v], dim=2)
            new_cache.append((k, v))
            Tk = k.shape[2]
            mask = torch.ones(T, Tk, dtype=torch.bool, device=ids.device).tril(diagonal=Tk - T)
            if self.sdpa:  # PyTorch's fused attention (flash or memory-efficient kernels on a GPU)
                y = torch.nn.functional.scaled_dot_product_attention(
                    q, k, v, is_causal=T == Tk, attn_mask=None if T == Tk else mask)
            else:
                att = (q @ k.transpose(-2, -1)) / math.sqrt(D)
                att = torch.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
                y = att @ v
            y = y.transpose(1, 2).reshape(B, T, C)
            x = x + b["c_proj"](y)
            x = x + b["mlp_proj"](torch.nn.functional.gelu(b["c_fc"](b["ln_2"](x)), approximate="tanh"))
        return self.ln_f(x) @ self.wte.weight.T, new_cache


def peak_resident_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1e3
    except OSError:
        pass
    return float("nan")


def measure(m, V, P, B, steps, warmup, flops_of, device="cpu", amp=None, sample_runs=5):
    """Times training steps (forward, backward, clipping, AdamW) on random ids and KV-cache
    sampling of B prompts x (P - 1) new tokens, and prints them with the GFLOP/s of
    flops_of(parameter count), the count ./sdpo bench model uses. m(ids, cache, offset) returns
    (logits, cache). On a GPU each timing waits for the device (eager mode, float32; with
    amp="bf16" the forward pass runs under bfloat16 autocast, float32 master weights)."""
    import contextlib

    def autocast():
        if amp == "bf16":
            return torch.autocast(device_type=device, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sync():
        if device != "cpu":
            torch.cuda.synchronize()

    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    x = torch.randint(0, V, (B, P), device=device)
    y = torch.randint(0, V, (B, P), device=device)
    times = []
    for s in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        with autocast():
            logits, _ = m(x)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V).float(), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        sync()
        if s >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    med = times[len(times) // 2]
    flops = flops_of(sum(p.numel() for p in m.parameters()))
    print(f"train step median {med:.1f} ms, min {times[0]:.1f} ms, "
          f"{B * P / (med / 1e3):.0f} tokens/s, {flops / (med / 1e3) / 1e9:.1f} GFLOP/s")
    best = 1e9
    if sample_runs == 0:
        print("sampling skipped (--sample-runs 0)")
        return
    with torch.no_grad(), autocast():
        for r in range(sample_runs):
            sync()
            t0 = time.perf_counter()
            ids = (torch.arange(B, device=device).reshape(B, 1) + 4) % V
            logits, cache = m(ids)
            for t in range(P - 1):
                probs = torch.softmax(logits[:, -1, :].float(), dim=-1)
                nxt = torch.multinomial(probs, 1)
                logits, cache = m(nxt, cache, offset=t + 1)
            sync()
            best = min(best, (time.perf_counter() - t0) * 1e3)
    print(f"sampling {B} prompts x {P - 1} new tokens (KV cache): best of {sample_runs} {best:.1f} ms, "
          f"{B * (P - 1) / (best / 1e3):.0f} tokens/s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (a GPU: tools/gpu-check.sh)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--sample-runs", type=int, default=5, help="sampling runs, the best reported; 0 skips")
    ap.add_argument("--amp", choices=["bf16"], help="bfloat16 autocast (a GPU's mixed precision)")
    ap.add_argument("--sdpa", action="store_true",
                    help="attention by torch's scaled_dot_product_attention (flash kernels on a GPU) "
                         "instead of the explicit softmax")
    # the shape, named and defaulted as in ./sdpo bench model
    ap.add_argument("--vocab", type=int, default=64)
    ap.add_argument("--ctx", type=int, default=64)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()
    if a.sdpa and not hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        ap.error(f"--sdpa needs PyTorch 2.0 or newer (this is {torch.__version__})")
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    V, P, C, L, H, B = a.vocab, a.ctx, a.n_embd, a.n_layer, a.n_head, a.batch
    m = Gpt(V, P, C, L, H, a.sdpa).to(a.device)
    print(f"torch {torch.__version__}, {a.device}, {a.amp or 'float32'}, "
          f"{'sdpa' if a.sdpa else 'explicit softmax'} attention, threads {a.threads}: vocab {V}, ctx {P}, n_embd {C}, "
          f"{L} layers, {H} heads, batch {B}, {sum(p.numel() for p in m.parameters())} parameters")
    measure(m, V, P, B, a.steps, 10, lambda n: 6.0 * n * B * P + 12.0 * L * B * P * P * C,
            a.device, a.amp, a.sample_runs)
    if a.device != "cpu":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 1e6:.0f} MB")
    print(f"peak resident memory: {peak_resident_mb():.0f} MB")


if __name__ == "__main__":
    main()
