#!/usr/bin/env python3
"""The PyTorch peer of `./sdpo bench model --arch llama`: the same Llama-family decoder (RMSNorm,
rotary embedding, grouped-query attention, SwiGLU, tied LM head), the same shape options and
defaults as ./sdpo bench model, a training step (forward, backward, clipping, AdamW) and KV-cache
sampling of batch prompts x (ctx - 1) new tokens on the CPU, with the same FLOP count and the
peak resident memory. SmolLM2-135M's shape:

    LD_PRELOAD=$(find ~/.javacpp -name libopenblas.so.0 | head -1) OPENBLAS_NUM_THREADS=2 \\
        /usr/bin/python3 tools/bench_torch_llama.py --threads 1 --vocab 49152 --ctx 128 \\
        --n-embd 576 --n-layer 30 --n-head 9 --kv-heads 3 --intermediate 1536 --batch 4

(see tools/bench_torch_gpt.py for why OpenBLAS is preloaded).
"""
import argparse

import torch

from bench_torch_gpt import measure, peak_resident_mb


def rms_norm(x, w, eps=1e-5):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Llama(torch.nn.Module):
    def __init__(self, V, P, C, L, H, Hkv, D, I):
        super().__init__()
        self.H, self.Hkv, self.D = H, Hkv, D
        self.embed = torch.nn.Embedding(V, C)
        self.layers = torch.nn.ModuleList()
        for _ in range(L):
            self.layers.append(torch.nn.ModuleDict(dict(
                q=torch.nn.Linear(C, H * D, bias=False), k=torch.nn.Linear(C, Hkv * D, bias=False),
                v=torch.nn.Linear(C, Hkv * D, bias=False), o=torch.nn.Linear(H * D, C, bias=False),
                gate=torch.nn.Linear(C, I, bias=False), up=torch.nn.Linear(C, I, bias=False),
                down=torch.nn.Linear(I, C, bias=False))))
        self.ln = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.ones(C)) for _ in range(2 * L + 1)])
        self.inv_freq = 1.0 / (10000.0 ** (torch.arange(0, D, 2).float() / D))

    def forward(self, ids, cache=None, offset=0):
        B, T = ids.shape
        H, Hkv, D = self.H, self.Hkv, self.D
        freqs = torch.arange(offset, offset + T).float()[:, None] * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        x = self.embed(ids)
        new_cache = []
        for i, b in enumerate(self.layers):
            a = rms_norm(x, self.ln[2 * i])
            q = b["q"](a).view(B, T, H, D).transpose(1, 2)
            k = b["k"](a).view(B, T, Hkv, D).transpose(1, 2)
            v = b["v"](a).view(B, T, Hkv, D).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if cache is not None:
                k = torch.cat([cache[i][0], k], dim=2)
                v = torch.cat([cache[i][1], v], dim=2)
            new_cache.append((k, v))
            k, v = k.repeat_interleave(H // Hkv, dim=1), v.repeat_interleave(H // Hkv, dim=1)
            att = (q @ k.transpose(-2, -1)) * D ** -0.5  # (torch 1.13 has no fused attention)
            Tk = k.shape[2]
            mask = torch.ones(T, Tk, dtype=torch.bool).tril(diagonal=Tk - T)
            y = torch.softmax(att.masked_fill(~mask, float("-inf")), dim=-1) @ v
            x = x + b["o"](y.transpose(1, 2).reshape(B, T, H * D))
            m = rms_norm(x, self.ln[2 * i + 1])
            x = x + b["down"](torch.nn.functional.silu(b["gate"](m)) * b["up"](m))
        return rms_norm(x, self.ln[-1]) @ self.embed.weight.T, new_cache


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=10)
    # the shape, named and defaulted as in ./sdpo bench model
    ap.add_argument("--vocab", type=int, default=64)
    ap.add_argument("--ctx", type=int, default=64)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=None)
    ap.add_argument("--head-dim", type=int, default=None)
    ap.add_argument("--intermediate", type=int, default=None)
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    V, P, C, L, H, B = a.vocab, a.ctx, a.n_embd, a.n_layer, a.n_head, a.batch
    Hkv = a.kv_heads or H
    D = a.head_dim or C // H
    I = a.intermediate or 4 * C
    m = Llama(V, P, C, L, H, Hkv, D, I)
    print(f"torch {torch.__version__}, threads {a.threads}: llama, vocab {V}, ctx {P}, n_embd {C}, "
          f"{L} layers, {H} heads ({Hkv} key/value, size {D}), batch {B}, "
          f"{sum(p.numel() for p in m.parameters())} parameters")
    measure(m, V, P, B, a.steps, a.warmup,
            lambda n: 6.0 * n * B * P + 12.0 * L * B * P * P * H * D)  # as ./sdpo bench model
    print(f"peak resident memory: {peak_resident_mb():.0f} MB")


if __name__ == "__main__":
    main()
