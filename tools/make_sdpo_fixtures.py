#!/usr/bin/env python3
"""Writes the SDPO-loss fixtures that sdpo-core's SdpoAuditParityTest compares against.

For the tiny GPT-2 of transformer/src/test/resources/fixtures/gpt2-tiny (run
tools/make_gpt2_fixtures.py first), a few cases (student context + response, teacher context +
the same response, loss settings) are scored with SDPO's loss written here in PyTorch, after the
reference implementation (verl's self-distillation loss): student and teacher log-probs at the
response positions, the per-token loss, its mean and every student gradient, in float64.

    /usr/bin/python3 tools/make_sdpo_fixtures.py
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gpt2_fixtures import CONFIG, forward, save_safetensors  # noqa: E402

MODEL = "transformer/src/test/resources/fixtures/gpt2-tiny/model.safetensors"
OUT = "sdpo-core/src/test/resources/fixtures/sdpo"


def load_safetensors(path):
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        b, e = h["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float64).reshape(h["shape"])
        out[name] = t.clone()
    return out


def tail(x):
    s = torch.logsumexp(x, dim=-1, keepdim=True).clamp(max=-1e-7)
    return torch.log(-torch.expm1(s))


def token_loss(zs, zt, ids, alpha, topk, add_tail, mode, temperature):
    ls = torch.log_softmax(zs / temperature, dim=-1)
    lt = torch.log_softmax(zt / temperature, dim=-1)
    if mode == "sampled_token":
        a = ls.gather(1, ids[:, None])[:, 0]
        b = lt.gather(1, ids[:, None])[:, 0]
        return (a - b).detach() * a, ls, lt
    if topk is None:
        a, b = ls, lt
    else:
        idx = torch.topk(zs / temperature, topk, dim=-1).indices  # the student's top-K
        a, b = ls.gather(1, idx), lt.gather(1, idx)
        if add_tail:
            a, b = torch.cat([a, tail(a)], dim=-1), torch.cat([b, tail(b)], dim=-1)
        else:
            a, b = torch.log_softmax(a, dim=-1), torch.log_softmax(b, dim=-1)
    if alpha == 0.0:
        kl = (b.exp() * (b - a)).sum(-1)
    elif alpha == 1.0:
        kl = (a.exp() * (a - b)).sum(-1)
    else:
        m = torch.logsumexp(torch.stack([a + torch.log(torch.tensor(1 - alpha, dtype=a.dtype)),
                                         b + torch.log(torch.tensor(alpha, dtype=a.dtype))]), dim=0)
        kl = (1 - alpha) * (a.exp() * (a - m)).sum(-1) + alpha * (b.exp() * (b - m)).sum(-1)
    return kl, ls, lt


def response_logits(p, ids, n):
    T = len(ids)
    x = torch.tensor([ids])
    logits = forward(p, CONFIG, x, torch.ones(1, T, dtype=torch.int64), torch.arange(T)[None])
    return logits[0, T - n - 1:T - 1]  # the positions predicting the response


def main():
    os.makedirs(OUT, exist_ok=True)
    w = load_safetensors(MODEL)
    response = [5, 17, 3, 30]
    cases = [
        ("reverse_topk_tail", dict(alpha=1.0, top_k=5, add_tail=True, mode="logit", temperature=1.0)),
        ("jsd_full", dict(alpha=0.5, top_k=None, add_tail=False, mode="logit", temperature=1.0)),
        ("forward_topk_renorm", dict(alpha=0.0, top_k=6, add_tail=False, mode="logit", temperature=1.5)),
        ("gjsd_topk_tail", dict(alpha=0.25, top_k=4, add_tail=True, mode="logit", temperature=0.8)),
        ("sampled_token", dict(alpha=1.0, top_k=None, add_tail=False, mode="sampled_token", temperature=1.0)),
    ]
    for name, loss in cases:
        student = [1, 8, 22, 9] + response
        teacher = [2, 36, 14, 0, 11, 7, 25, 19, 4] + response
        case = dict(student_input_ids=student, teacher_input_ids=teacher,
                    response_length=len(response), loss=loss)
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(case, f)
        p = {k: v.clone().requires_grad_(True) for k, v in w.items()}
        zs = response_logits(p, student, len(response))
        with torch.no_grad():
            zt = response_logits(w, teacher, len(response))
        tl, ls, lt = token_loss(zs, zt, torch.tensor(response), loss["alpha"], loss["top_k"],
                                loss["add_tail"], loss["mode"], loss["temperature"])
        mean = tl.mean()
        mean.backward()
        out = {"student_logprobs": ls, "teacher_logprobs": lt, "token_loss": tl,
               "loss": mean.reshape(())}
        out.update({"grad." + k: v.grad for k, v in p.items()})
        save_safetensors(os.path.join(OUT, name + ".expected.safetensors"), out, torch.float64)
        print(name, mean.item())


if __name__ == "__main__":
    main()
