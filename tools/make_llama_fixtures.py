#!/usr/bin/env python3
"""Writes the Llama-family parity fixtures that transformer's LlamaParityTest compares against.

For each case a small random model in the Hugging Face layout (config.json with model_type
llama / qwen2 / qwen3 / gemma3_text / olmo2, tensor names model.layers.N.self_attn.q_proj.weight
..., nn.Linear weights as [out, in]) and a padded batch go through an independent PyTorch
implementation written here from the architecture as Hugging Face's modeling_llama /
modeling_qwen2 / modeling_qwen3 / modeling_gemma3 / modeling_olmo2 define it (RMSNorm, rotate-half rotary
embedding with the default, linear and llama3 frequency rules, grouped-query attention by
repeating key and value heads, SwiGLU, Qwen2's q/k/v biases, Qwen3's per-head q/k RMSNorm and
explicit head_dim, tied or untied LM head; Gemma 3's embedding scaled by sqrt(hidden_size) held
in float32, its norms x / rms(x) * (1 + w) before and after each sub-layer, GELU (tanh) gated
MLP, q/k norms, and a rotary base per layer type: rope_local_base_freq on sliding layers,
rope_theta and rope_scaling on full ones; OLMo 2's norms after attention and MLP instead of
before, and its q/k norms over the whole projections). The logits, the loss and every parameter's gradient
are saved in float64 and float32.

Precision: the float32 run computes the rotary angles as Hugging Face does (inverse frequencies
and position x frequency products in float32); the float64 run computes everything in float64
(Hugging Face itself would compute the angles and the RMSNorm in float32 even for a float64
model, which no 1e-9 comparison could survive).

Run by hand (Debian: apt-get install python3-torch), never by the build:

    /usr/bin/python3 tools/make_llama_fixtures.py transformer/src/test/resources/fixtures
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gpt2_fixtures import save_safetensors  # noqa: E402

CASES = {
    # Llama with grouped-query attention (4 query heads, 2 key/value heads), untied LM head
    "llama-gqa": dict(model_type="llama", vocab_size=41, hidden_size=16, intermediate_size=24,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=32, rms_norm_eps=1e-5, rope_theta=10000.0,
                      rope_scaling=None, tie_word_embeddings=False, attention_bias=False,
                      mlp_bias=False),
    # Llama with tied embeddings, a large rope_theta and Llama 3.1's frequency rule
    "llama-tied": dict(model_type="llama", vocab_size=37, hidden_size=16, intermediate_size=20,
                       num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                       max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=500000.0,
                       rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                         high_freq_factor=4.0,
                                         original_max_position_embeddings=8),
                       tie_word_embeddings=True, attention_bias=False, mlp_bias=False),
    # Qwen2: biases on q, k, v; one key/value head for four query heads; linear rope scaling;
    # weights sharded over two files with an index
    "qwen2-bias": dict(model_type="qwen2", vocab_size=43, hidden_size=16, intermediate_size=28,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                       max_position_embeddings=32, rms_norm_eps=1e-6, rope_theta=1000000.0,
                       rope_scaling=dict(type="linear", factor=2.0), tie_word_embeddings=False,
                       use_sliding_window=False),
    # Qwen3: per-head q/k RMSNorm, head_dim 6 != hidden_size / heads = 4, tied LM head
    "qwen3-qknorm": dict(model_type="qwen3", vocab_size=39, hidden_size=16, intermediate_size=24,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         head_dim=6, max_position_embeddings=32, rms_norm_eps=1e-6,
                         rope_theta=1000000.0, rope_scaling=None, tie_word_embeddings=True,
                         attention_bias=False),
    # Gemma 3 (text): sandwich norms with 1 + w, scaled embeddings, GELU gate, q/k norms, one
    # key/value head, layer 1 of 3 full (linear scaling on its rotary) and the others sliding
    # (their own base); the window (32) covers every position of the batch, as our cap needs
    # hidden_size 24: sqrt(24) is not a float, so the scale's float32 rounding shows in float64
    "gemma3-sandwich": dict(model_type="gemma3_text", vocab_size=47, hidden_size=24,
                            intermediate_size=20, num_hidden_layers=3, num_attention_heads=2,
                            num_key_value_heads=1, head_dim=8, query_pre_attn_scalar=8,
                            max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=1000000.0,
                            rope_scaling=dict(rope_type="linear", factor=4.0),
                            rope_local_base_freq=10000.0, sliding_window=32,
                            layer_types=["sliding_attention", "full_attention",
                                         "sliding_attention"],
                            hidden_activation="gelu_pytorch_tanh", attn_logit_softcapping=None,
                            final_logit_softcapping=None, tie_word_embeddings=True,
                            attention_bias=False),
    # OLMo 2: norms after attention and MLP (no input norms), q/k norms over the whole
    # projections (H*D and Hkv*D wide), grouped-query attention, untied head
    "olmo2-postnorm": dict(model_type="olmo2", vocab_size=45, hidden_size=16, intermediate_size=24,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           max_position_embeddings=32, rms_norm_eps=1e-6, rope_theta=500000.0,
                           rope_scaling=None, tie_word_embeddings=False, attention_bias=False),
}


def head_dim(c):
    return c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]


def shapes(c):
    C, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    D, H, Hkv = head_dim(c), c["num_attention_heads"], c["num_key_value_heads"]
    qkv_bias = c["model_type"] == "qwen2" or c.get("attention_bias", False)
    o_bias = c.get("attention_bias", False) and c["model_type"] != "qwen2"
    s = {"model.embed_tokens.weight": (V, C)}

    def linear(name, out, inp, bias):
        s[name + ".weight"] = (out, inp)
        if bias:
            s[name + ".bias"] = (out,)

    gemma = c["model_type"] == "gemma3_text"
    olmo = c["model_type"] == "olmo2"
    for i in range(c["num_hidden_layers"]):
        l = f"model.layers.{i}."
        if not olmo:
            s[l + "input_layernorm.weight"] = (C,)
        linear(l + "self_attn.q_proj", H * D, C, qkv_bias)
        linear(l + "self_attn.k_proj", Hkv * D, C, qkv_bias)
        linear(l + "self_attn.v_proj", Hkv * D, C, qkv_bias)
        linear(l + "self_attn.o_proj", C, H * D, o_bias)
        if c["model_type"] in ("qwen3", "gemma3_text"):
            s[l + "self_attn.q_norm.weight"] = (D,)
            s[l + "self_attn.k_norm.weight"] = (D,)
        if olmo:
            s[l + "self_attn.q_norm.weight"] = (H * D,)
            s[l + "self_attn.k_norm.weight"] = (Hkv * D,)
        s[l + "post_attention_layernorm.weight"] = (C,)
        if gemma:
            s[l + "pre_feedforward_layernorm.weight"] = (C,)
        if gemma or olmo:
            s[l + "post_feedforward_layernorm.weight"] = (C,)
        linear(l + "mlp.gate_proj", I, C, c.get("mlp_bias", False))
        linear(l + "mlp.up_proj", I, C, c.get("mlp_bias", False))
        linear(l + "mlp.down_proj", C, I, c.get("mlp_bias", False))
    s["model.norm.weight"] = (C,)
    if not c["tie_word_embeddings"]:
        s["lm_head.weight"] = (V, C)
    return s


def params(c, gen):
    out = {}
    for name, s in shapes(c).items():
        t = torch.randn(s, generator=gen, dtype=torch.float64) * 0.3
        if name.endswith("norm.weight"):
            # Gemma's norm weights are offsets from one (it scales by 1 + w)
            t = 0.1 * t if c["model_type"] == "gemma3_text" else 1.0 + 0.1 * t
        out[name] = t
    return out


def inv_freq(c, dtype, local=False):
    """LlamaRotaryEmbedding's inverse frequencies (rope_init_fn of the config's rope type); for
    Gemma 3's sliding layers (local) the default rule with rope_local_base_freq."""
    D = head_dim(c)
    base = c["rope_local_base_freq"] if local else c["rope_theta"]
    inv = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.int64).to(dtype) / D))
    rs = {} if local else c.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "linear":
        inv = inv / rs["factor"]
    elif kind == "llama3":
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        inv = torch.where(medium, smoothed, scaled)
    return inv


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def gemma_norm(x, w, eps):
    """Gemma3RMSNorm: the weight is an offset from one."""
    return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)) * (1.0 + w)


def linear(p, name, x):
    y = x @ p[name + ".weight"].T
    return y + p[name + ".bias"] if name + ".bias" in p else y


def forward(p, c, ids, mask, pos, dtype):
    B, T = ids.shape
    H, Hkv, D = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
    eps = c["rms_norm_eps"]
    inv = inv_freq(c, dtype)
    freqs = pos[..., None].to(dtype) * inv  # (B, T, D/2), in the run's dtype
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]  # (B, 1, T, D)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    visible = causal[None, None, :, :] & (mask[:, None, None, :] > 0)  # (B, 1, T, T)
    x = p["model.embed_tokens.weight"][ids]
    olmo = c["model_type"] == "olmo2"
    for i in range(c["num_hidden_layers"]):
        l = f"model.layers.{i}."
        a = x if olmo else rms_norm(x, p[l + "input_layernorm.weight"], eps)
        q = linear(p, l + "self_attn.q_proj", a)
        k = linear(p, l + "self_attn.k_proj", a)
        if olmo:  # Olmo2Attention: q_norm, k_norm over the whole projections, before the heads
            q = rms_norm(q, p[l + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, p[l + "self_attn.k_norm.weight"], eps)
        q = q.view(B, T, H, D)
        k = k.view(B, T, Hkv, D)
        v = linear(p, l + "self_attn.v_proj", a).view(B, T, Hkv, D)
        if c["model_type"] == "qwen3":
            q = rms_norm(q, p[l + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, p[l + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // Hkv, dim=1)  # repeat_kv
        v = v.repeat_interleave(H // Hkv, dim=1)
        att = (q @ k.transpose(-2, -1)) * D ** -0.5
        att = att.masked_fill(~visible, float("-inf"))
        att = torch.nan_to_num(torch.softmax(att, dim=-1), nan=0.0)  # no visible key: 0
        y = (att @ v).transpose(1, 2).reshape(B, T, H * D)
        if olmo:  # Olmo2DecoderLayer: each sub-layer's output normalised, then added
            x = x + rms_norm(linear(p, l + "self_attn.o_proj", y),
                             p[l + "post_attention_layernorm.weight"], eps)
            gate = linear(p, l + "mlp.gate_proj", x)
            m = linear(p, l + "mlp.down_proj",
                       torch.nn.functional.silu(gate) * linear(p, l + "mlp.up_proj", x))
            x = x + rms_norm(m, p[l + "post_feedforward_layernorm.weight"], eps)
            continue
        x = x + linear(p, l + "self_attn.o_proj", y)
        m = rms_norm(x, p[l + "post_attention_layernorm.weight"], eps)
        gate = linear(p, l + "mlp.gate_proj", m)
        x = x + linear(p, l + "mlp.down_proj",
                       torch.nn.functional.silu(gate) * linear(p, l + "mlp.up_proj", m))
    x = rms_norm(x, p["model.norm.weight"], eps)
    head = p["model.embed_tokens.weight"] if c["tie_word_embeddings"] else p["lm_head.weight"]
    return x @ head.T


def rotary(c, pos, dtype, local=False):
    freqs = pos[..., None].to(dtype) * inv_freq(c, dtype, local)  # (B, T, D/2), the run's dtype
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[:, None], emb.sin()[:, None]  # (B, 1, T, D)


def gemma3_forward(p, c, ids, mask, pos, dtype):
    """Gemma3ForCausalLM's forward (modeling_gemma3), text only, eager attention."""
    B, T = ids.shape
    H, Hkv, D = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
    eps = c["rms_norm_eps"]
    rope = {"full_attention": rotary(c, pos, dtype), "sliding_attention": rotary(c, pos, dtype, True)}
    idx = torch.arange(T)
    causal = idx[None, :] <= idx[:, None]
    window = (idx[:, None] - idx[None, :]) < c["sliding_window"]  # by index, as HF's mask
    # the scale is a float32 buffer (Gemma3TextScaledWordEmbedding), cast to the weights' dtype
    scale = torch.tensor(c["hidden_size"] ** 0.5, dtype=torch.float32).to(dtype)
    x = p["model.embed_tokens.weight"][ids] * scale
    for i in range(c["num_hidden_layers"]):
        l = f"model.layers.{i}."
        kind = c["layer_types"][i]
        cos, sin = rope[kind]
        allowed = causal & window if kind == "sliding_attention" else causal
        visible = allowed[None, None] & (mask[:, None, None, :] > 0)  # (B, 1, T, T)
        a = gemma_norm(x, p[l + "input_layernorm.weight"], eps)
        q = linear(p, l + "self_attn.q_proj", a).view(B, T, H, D)
        k = linear(p, l + "self_attn.k_proj", a).view(B, T, Hkv, D)
        v = linear(p, l + "self_attn.v_proj", a).view(B, T, Hkv, D)
        q = gemma_norm(q, p[l + "self_attn.q_norm.weight"], eps)
        k = gemma_norm(k, p[l + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
        att = (q @ k.transpose(-2, -1)) * c["query_pre_attn_scalar"] ** -0.5
        att = att.masked_fill(~visible, float("-inf"))
        att = torch.nan_to_num(torch.softmax(att, dim=-1), nan=0.0)
        y = (att @ v).transpose(1, 2).reshape(B, T, H * D)
        y = linear(p, l + "self_attn.o_proj", y)
        x = x + gemma_norm(y, p[l + "post_attention_layernorm.weight"], eps)
        m = gemma_norm(x, p[l + "pre_feedforward_layernorm.weight"], eps)
        gate = torch.nn.functional.gelu(linear(p, l + "mlp.gate_proj", m), approximate="tanh")
        m = linear(p, l + "mlp.down_proj", gate * linear(p, l + "mlp.up_proj", m))
        x = x + gemma_norm(m, p[l + "post_feedforward_layernorm.weight"], eps)
    x = gemma_norm(x, p["model.norm.weight"], eps)
    head = p["model.embed_tokens.weight"] if c["tie_word_embeddings"] else p["lm_head.weight"]
    return x @ head.T


def write_case(out, name, c, gen):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    p64 = params(c, gen)
    B, T = 3, 9
    ids = torch.randint(0, c["vocab_size"], (B, T), generator=gen)
    mask = torch.ones(B, T, dtype=torch.int64)
    mask[1, 6:] = 0          # right padding
    mask[2, :3] = 0          # left padding
    pos = torch.arange(T).repeat(B, 1)
    pos[0] += 11             # row 0 continues a longer text: positions 11 .. 19
    pos[2] = torch.tensor([0, 0, 0, 0, 1, 2, 3, 4, 5])  # real tokens of row 2 start at 0
    labels = torch.roll(ids, -1, dims=1)
    labels[:, -1] = -100
    labels[mask == 0] = -100
    labels[1, 5] = -100      # the last real token of row 1 predicts a pad
    batch = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(),
             "position_ids": pos.tolist(), "labels": labels.tolist()}
    with open(os.path.join(d, "batch.json"), "w") as f:
        json.dump(batch, f)
    arch = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
            "qwen3": "Qwen3ForCausalLM", "gemma3_text": "Gemma3ForCausalLM",
            "olmo2": "Olmo2ForCausalLM"}[c["model_type"]]
    gemma = c["model_type"] == "gemma3_text"
    config = dict(architectures=[arch], **c) if gemma else dict(architectures=[arch],
                                                                  hidden_act="silu", **c)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for old in os.listdir(d):
        if old.startswith("model") and old.endswith(".safetensors"):
            os.remove(os.path.join(d, old))
    if name == "qwen2-bias":  # sharded, as large checkpoints come
        names = list(p64)
        half = len(names) // 2
        shards = {"model-00001-of-00002.safetensors": names[:half],
                  "model-00002-of-00002.safetensors": names[half:]}
        weight_map = {}
        for file, part in shards.items():
            save_safetensors(os.path.join(d, file), {n: p64[n] for n in part}, torch.float64)
            weight_map.update({n: file for n in part})
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 8 * sum(t.numel() for t in p64.values())},
                       "weight_map": weight_map}, f, indent=2)
    else:
        save_safetensors(os.path.join(d, "model.safetensors"), p64, torch.float64)
    for dtype, suffix in ((torch.float64, "f64"), (torch.float32, "f32")):
        p = {n: t.to(dtype).clone().requires_grad_(True) for n, t in p64.items()}
        logits = (gemma3_forward if gemma else forward)(p, c, ids, mask, pos, dtype)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, c["vocab_size"]), labels.reshape(-1), ignore_index=-100)
        loss.backward()
        outputs = {"logits": logits, "loss": loss.reshape(())}
        outputs.update({"grad." + n: t.grad for n, t in p.items()})
        save_safetensors(os.path.join(d, f"expected_{suffix}.safetensors"), outputs, dtype)
        print(name, suffix, "loss", loss.item())


def main(out):
    gen = torch.Generator().manual_seed(2026)
    for name, c in CASES.items():
        write_case(out, name, c, gen)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "transformer/src/test/resources/fixtures")
