#!/usr/bin/env python3
"""Writes the GPT-2 parity fixtures that transformer's GptParityTest compares against.

A small random GPT-2 (Hugging Face layout and tensor names, Conv1D weights as [in, out]) and a
padded batch go through an independent PyTorch implementation written here from the GPT-2
architecture; the logits, the loss and every parameter's gradient are saved in float64 and
float32. Run by hand (Debian: apt-get install python3-torch), never by the build:

    /usr/bin/python3 tools/make_gpt2_fixtures.py transformer/src/test/resources/fixtures/gpt2-tiny
"""
import json
import math
import os
import struct
import sys

import torch

CONFIG = dict(vocab_size=37, n_positions=16, n_embd=12, n_layer=2, n_head=3,
              layer_norm_epsilon=1e-5)


def params(cfg, gen):
    C, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    shapes = {"wte.weight": (V, C), "wpe.weight": (P, C)}
    for i in range(cfg["n_layer"]):
        h = f"h.{i}."
        shapes.update({
            h + "ln_1.weight": (C,), h + "ln_1.bias": (C,),
            h + "attn.c_attn.weight": (C, 3 * C), h + "attn.c_attn.bias": (3 * C,),
            h + "attn.c_proj.weight": (C, C), h + "attn.c_proj.bias": (C,),
            h + "ln_2.weight": (C,), h + "ln_2.bias": (C,),
            h + "mlp.c_fc.weight": (C, 4 * C), h + "mlp.c_fc.bias": (4 * C,),
            h + "mlp.c_proj.weight": (4 * C, C), h + "mlp.c_proj.bias": (C,),
        })
    shapes.update({"ln_f.weight": (C,), "ln_f.bias": (C,)})
    out = {}
    for name, s in shapes.items():
        t = torch.randn(s, generator=gen, dtype=torch.float64) * 0.3
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
            t = 1.0 + 0.1 * t
        out[name] = t
    return out


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def forward(p, cfg, ids, mask, pos):
    B, T = ids.shape
    C, H = cfg["n_embd"], cfg["n_head"]
    D = C // H
    eps = cfg["layer_norm_epsilon"]
    x = p["wte.weight"][ids] + p["wpe.weight"][pos]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    visible = causal[None, None, :, :] & (mask[:, None, None, :] > 0)  # (B, 1, T, T)
    for i in range(cfg["n_layer"]):
        h = f"h.{i}."
        a = layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"], eps)
        qkv = a @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]
        q, k, v = qkv.split(C, dim=2)
        q = q.view(B, T, H, D).transpose(1, 2)
        k = k.view(B, T, H, D).transpose(1, 2)
        v = v.view(B, T, H, D).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D)
        att = att.masked_fill(~visible, float("-inf"))
        att = torch.softmax(att, dim=-1)
        att = torch.nan_to_num(att, nan=0.0)  # a query with no visible key attends to nothing
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + (y @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"])
        m = layer_norm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"], eps)
        m = gelu_new(m @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"])
        x = x + (m @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"])
    x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"], eps)
    return x @ p["wte.weight"].T  # tied LM head


def save_safetensors(path, tensors, dtype):
    code = {torch.float64: "F64", torch.float32: "F32"}[dtype]
    header, blobs, at = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(dtype).contiguous().numpy().tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main(out):
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    cfg = CONFIG
    p64 = params(cfg, gen)
    B, T = 3, 7
    ids = torch.randint(0, cfg["vocab_size"], (B, T), generator=gen)
    mask = torch.ones(B, T, dtype=torch.int64)
    mask[1, 5:] = 0          # right padding
    mask[2, :2] = 0          # left padding
    pos = torch.arange(T).repeat(B, 1)
    pos[2] = torch.tensor([0, 0, 0, 1, 2, 3, 4])  # real tokens of row 2 start at position 0
    labels = torch.roll(ids, -1, dims=1)
    labels[:, -1] = -100
    labels[mask == 0] = -100
    labels[1, 4] = -100      # the last real token of row 1 predicts a pad
    batch = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(),
             "position_ids": pos.tolist(), "labels": labels.tolist()}
    with open(os.path.join(out, "batch.json"), "w") as f:
        json.dump(batch, f)
    config = dict(model_type="gpt2", architectures=["GPT2LMHeadModel"], n_ctx=cfg["n_positions"],
                  activation_function="gelu_new", **cfg)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_safetensors(os.path.join(out, "model.safetensors"), p64, torch.float64)
    for dtype, suffix in ((torch.float64, "f64"), (torch.float32, "f32")):
        p = {n: t.to(dtype).clone().requires_grad_(True) for n, t in p64.items()}
        logits = forward(p, cfg, ids, mask, pos)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, cfg["vocab_size"]), labels.reshape(-1), ignore_index=-100)
        loss.backward()
        outputs = {"logits": logits, "loss": loss.reshape(())}
        outputs.update({"grad." + n: t.grad for n, t in p.items()})
        save_safetensors(os.path.join(out, f"expected_{suffix}.safetensors"), outputs, dtype)
        print(suffix, "loss", loss.item())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "transformer/src/test/resources/fixtures/gpt2-tiny")
