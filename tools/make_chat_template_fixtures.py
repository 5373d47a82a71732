#!/usr/bin/env python3
"""Writes chat-template fixtures for transformer's ChatTemplateTest.

Each line of the output holds a conversation, the options and the text Hugging Face renders for
it, produced the way transformers' apply_chat_template renders (jinja2's sandboxed environment
with trim_blocks and lstrip_blocks on, loopcontrols, a tojson filter as json.dumps with
ensure_ascii=False, raise_exception, the special tokens of tokenizer_config.json as variables).
Templates: Qwen3's and Llama 3's from their committed tokenizer_config.json, a Llama 3 style
template (bos_token, a loop, raise_exception on a bad role order) and a Gemma 3 style one
(content as a string or a list of parts) written here. Run by hand
(Debian: apt-get install python3-jinja2):

    /usr/bin/python3 tools/make_chat_template_fixtures.py transformer/src/test/resources
"""
import json
import os
import sys

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

LLAMA3_STYLE = (
    "{{- bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set system_message = \"You are a helpful assistant.\" %}\n"
    "{%- endif %}\n"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' + system_message + '<|eot_id|>' }}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
    "        {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\n"
    "    {%- endif %}\n"
    "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n")

# A Gemma 3 style template written here: the system turn folded into the first user turn,
# content as a string or a list of parts (`is string`, `is iterable`), `loop.first`, a
# conditional expression, roles renamed (assistant -> model), raise_exception.
GEMMA3_STYLE = (
    '{{ bos_token }}\n'
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    '    {%- else -%}\n'
    "        {%- set prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    '    {%- endif -%}\n'
    '    {%- set turns = messages[1:] -%}\n'
    '{%- else -%}\n'
    '    {%- set prefix = "" -%}\n'
    '    {%- set turns = messages -%}\n'
    '{%- endif -%}\n'
    '{%- for m in turns -%}\n'
    "    {%- if (m['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    '        {{ raise_exception("user and assistant turns must alternate") }}\n'
    '    {%- endif -%}\n'
    '    {%- set who = "model" if m[\'role\'] == \'assistant\' else m[\'role\'] -%}\n'
    '    {{ \'<start_of_turn>\' + who + \'\\n\' + (prefix if loop.first else "") }}\n'
    "    {%- if m['content'] is string -%}\n"
    "        {{ m['content'] | trim }}\n"
    "    {%- elif m['content'] is iterable -%}\n"
    "        {%- for part in m['content'] -%}\n"
    "            {%- if part['type'] == 'image' -%}{{ '<start_of_image>' }}\n"
    "            {%- elif part['type'] == 'text' -%}{{ part['text'] | trim }}\n"
    '            {%- endif -%}\n'
    '        {%- endfor -%}\n'
    '    {%- else -%}\n'
    '        {{ raise_exception("content must be text or a list") }}\n'
    '    {%- endif -%}\n'
    "    {{ '<end_of_turn>\\n' }}\n"
    '{%- endfor -%}\n'
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}\n"
)

CONVERSATIONS = [
    [{"role": "user", "content": "What is 0347+0589?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "Solve it."},
     {"role": "assistant", "content": "<think>\nadd the digits\n</think>\n\n63900"},
     {"role": "user", "content": "The following is feedback from your unsuccessful earlier attempt:\n\nwrong\n\nCorrectly solve the original question."}],
    [{"role": "system", "content": "  padded system  "}, {"role": "user", "content": "a"},
     {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
    [{"role": "user", "content": "Ünïcödé 日本 😀 <|im_end|> {{ not a tag }}"},
     {"role": "assistant", "content": "ok"}],
    [{"role": "user", "content": "call"}, {"role": "assistant", "content": "x"},
     {"role": "tool", "content": "42"}, {"role": "tool", "content": "43"},
     {"role": "user", "content": "<tool_response>\nend\n</tool_response>"}],
]

# only for the Gemma 3 style template: content as a list of parts, and a bad role order
PARTS_CONVERSATIONS = [
    [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
     {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "  What is 2+2? "}]},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}],
    [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
]


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def raise_exception(message):
    raise TemplateError(message)


def render(source, special, messages, add_generation_prompt, extra):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    try:
        return env.from_string(source).render(messages=messages, tools=None, documents=None,
                                              add_generation_prompt=add_generation_prompt,
                                              **special, **extra)
    except TemplateError as e:
        return {"error": str(e)}


def config(directory):
    with open(os.path.join(directory, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    special = {k: (cfg.get(k) or "") for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    return cfg["chat_template"], {k: (v["content"] if isinstance(v, dict) else v)
                                  for k, v in special.items()}


def main(resources):
    out = os.path.join(resources, "qwen3")
    qwen3, special = config(out)
    lines = []
    templates = {"qwen3": (qwen3, special),
                 "llama3": config(os.path.join(resources, "llama3")),
                 "llama3-style": (LLAMA3_STYLE, dict(special, bos_token="<|begin_of_text|>")),
                 "gemma3-style": (GEMMA3_STYLE, dict(special, bos_token="<bos>"))}
    for name, (source, sp) in templates.items():
        for messages in CONVERSATIONS + (PARTS_CONVERSATIONS if name == "gemma3-style" else []):
            for gen in (False, True):
                for extra in ({}, {"enable_thinking": False}):
                    if extra and not gen:
                        continue
                    lines.append({"template": name, "messages": messages,
                                  "add_generation_prompt": gen, "extra": extra,
                                  "special": sp,
                                  "expected": render(source, sp, messages, gen, extra)})
    with open(os.path.join(out, "chat_fixtures.jsonl"), "w") as f:
        for l in lines:
            f.write(json.dumps(l, ensure_ascii=False) + "\n")
    with open(os.path.join(out, "llama3_style_template.jinja"), "w") as f:
        f.write(LLAMA3_STYLE)
    with open(os.path.join(out, "gemma3_style_template.jinja"), "w") as f:
        f.write(GEMMA3_STYLE)
    print(len(lines), "fixtures;", sum(isinstance(l["expected"], dict) for l in lines), "errors")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "transformer/src/test/resources")
