#!/usr/bin/env python3
"""Writes Jinja conformance fixtures for transformer's JinjaTest.

Small templates, one feature each (whitespace control, loops, scoping, namespaces, macros,
slices, operators, filters, tests, Python string and dict methods, errors), rendered by Python's
jinja2 in the environment transformers uses for chat templates (sandboxed, trim_blocks and
lstrip_blocks on, loopcontrols, tojson as json.dumps with ensure_ascii=False, raise_exception).
A template that raises gets {"error": message}. Run by hand (Debian: apt-get install
python3-jinja2):

    /usr/bin/python3 tools/make_jinja_fixtures.py > transformer/src/test/resources/jinja_fixtures.jsonl
"""
import json
import sys

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

CTX = {"messages": [{"role": "system", "content": "  Be brief.  "},
                    {"role": "user", "content": "Hi <think>a</think>\n\nb"},
                    {"role": "assistant", "content": "<think>\nplan\n</think>\n\nanswer"}],
       "n": 7, "x": 2.5, "s": "Hello, World", "empty": "", "none": None, "flag": True,
       "d": {"b": 2, "a": 1, "c": [1, 2, 3]}, "xs": [3, 1, 2, 1], "words": ["a", "bb", "ccc"],
       "nested": {"k": {"j": "deep"}}, "tools": None}

CASES = [
    # whitespace control
    "a\n{% if flag %}\n  yes\n{% endif %}\nb",
    "  {% if flag %}x{% endif %}  \n  {%+ if flag %}y{% endif %}",
    "a  {{- s -}}  b\n{%- if flag -%}\n\n  c  \n{%- endif %}\nd",
    "{# a comment #}\nx {#- trimmed -#} y\n  {# indented #}\nz",
    "{% for w in words %}\n{{ w }}\n{% endfor %}",
    "{%- for w in words -%}\n  [{{ w }}]\n{%- endfor -%}",
    # loops
    "{% for w in words %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
    "{% for w in words %}{{ loop.previtem }}|{{ loop.nextitem }},{% endfor %}",
    "{% for w in words if w|length > 1 %}{{ w }}{{ loop.index }}{% else %}none{% endfor %}",
    "{% for w in [] %}x{% else %}empty{% endfor %}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
    "{% for k in d %}{{ k }}{% endfor %}",
    "{% for c in 'abc' %}{{ c }}.{% endfor %}",
    "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}",
    "{% for w in words %}{{ loop.cycle('odd', 'even') }}{% endfor %}",
    "{% for m in messages[::-1] %}{{ m.role }},{% endfor %}",
    # scoping and namespaces
    "{% set v = 1 %}{% for w in words %}{% set v = 2 %}{% endfor %}{{ v }}",
    "{% set ns = namespace(v=1, last=messages|length - 1) %}{% for w in words %}{% set ns.v = ns.v + 1 %}{% endfor %}{{ ns.v }} {{ ns.last }}",
    "{% set a, b = [1, 2] %}{{ a }}{{ b }}",
    "{% set block %}inner {{ n }}{% endset %}[{{ block }}]",
    "{% if flag %}{% set inside = 'set' %}{% endif %}{{ inside }}",
    # macros
    "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c') }}",
    "{% macro render(m) %}{{ m.role|upper }}: {{ m.content|trim }}{% endmacro %}{% for m in messages %}{{ render(m) }}\n{% endfor %}",
    # expressions and operators
    "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }}",
    "{{ n - 1 }} {{ x * 2 }} {{ n + x }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 100.0 / 3 }}",
    "{{ 'a' ~ 1 ~ none ~ flag }} {{ 'ab' * 3 }} {{ [1] + [2] }}",
    "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 2 in xs }} {{ 'a' in d }}",
    "{{ not flag }} {{ flag and 'yes' }} {{ none or 'default' }} {{ empty or 'was empty' }}",
    "{{ 'yes' if flag else 'no' }} {{ 'yes' if not flag else 'no' }} [{{ 'only' if not flag }}]",
    "{{ xs[0] }} {{ xs[-1] }} {{ xs[1:3] }} {{ xs[::2] }} {{ xs[::-1] }} {{ s[7:] }} {{ s[-5:-1] }} {{ s[::-1] }}",
    "{{ d.b }} {{ d['a'] }} {{ d.c[1] }} {{ nested.k.j }} {{ nested['k']['j'] }} [{{ d.missing }}] [{{ xs[10] }}]",
    "{{ none }} {{ flag }} {{ xs }} {{ d }} {{ words }} {{ 'it\\'s' }} {{ [none, true, 1.5, 'q'] }}",
    "{{ {'a': 1, 'b': [1, 2]} }} {{ (1, 2) }} {{ [] }} {{ {} }}",
    "{{ \"double\" 'adjacent' }} {{ 'esc\\tape\\n' }}",
    # string methods
    "{{ s.upper() }} {{ s.lower() }} {{ s.startswith('Hell') }} {{ s.endswith(('x', 'World')) }} {{ s.find('o') }} {{ s.count('o') }}",
    "[{{ '  pad  '.strip() }}] [{{ '  pad  '.lstrip() }}] [{{ '  pad  '.rstrip() }}] [{{ 'xxpadxx'.strip('x') }}] [{{ '\\n\\nx\\n'.strip('\\n') }}]",
    "{{ s.split(', ') }} {{ 'a b  c'.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ s.replace('l', 'L') }} {{ s.replace('l', 'L', 1) }}",
    "{{ messages[2].content.split('</think>')[-1].lstrip('\\n') }}|{{ messages[2].content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
    "{{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ '-'.join(words) }} {{ 'a\\nb\\n'.splitlines() }} {{ '123'.isdigit() }}",
    # dict methods
    "{{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }} {{ d.keys()|list }} {{ d.values()|list }}",
    # filters
    "{{ words|length }} {{ s|length }} {{ d|count }} {{ s|upper }} {{ s|lower }} {{ '  t  '|trim }} {{ 'xxtxx'|trim('x') }}",
    "{{ words|join(', ') }} {{ xs|join }} {{ messages|map(attribute='role')|join('/') }} {{ words|first }} {{ words|last }}",
    "{{ xs|sort }} {{ xs|sort(reverse=true) }} {{ xs|unique|list }} {{ xs|min }} {{ xs|max }} {{ xs|sum }} {{ words|reverse|list }} {{ 'abc'|reverse }}",
    "{{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|rejectattr('role', 'eq', 'user')|map(attribute='role')|list }} {{ xs|select('odd')|list }} {{ xs|reject('odd')|list }}",
    "{{ undefined_name|default('dflt') }} {{ empty|default('dflt') }} {{ empty|default('dflt', true) }} {{ none|d('x', true) }}",
    "{{ d|tojson }} {{ messages[0]|tojson }} {{ 'ü \"q\" \\n'|tojson }} {{ [1.5, none, true]|tojson }} {{ d|tojson(indent=2) }}",
    "{{ '3'|int + 1 }} {{ '2.5'|float }} {{ 2.7|int }} {{ -3|abs }} {{ 2.567|round(2) }} {{ 3|string ~ 'x' }} {{ d|items|list }} {{ d|dictsort }}",
    "{{ 'line1\\nline2\\n\\nline3'|indent(2) }}|{{ 'a\\nb'|indent(4, true) }}|{{ '<b>&'|e }}|{{ 'one two  three'|wordcount }}",
    "{{ messages|map(attribute='content')|map('trim')|list }}",
    # tests
    "{{ n is defined }} {{ nope is defined }} {{ nope is undefined }} {{ none is none }} {{ flag is not none }} {{ s is string }} {{ n is string }}",
    "{{ n is number }} {{ x is number }} {{ n is integer }} {{ x is float }} {{ flag is boolean }} {{ flag is true }} {{ false is false }} {{ d is mapping }} {{ xs is sequence }} {{ s is iterable }}",
    "{{ n is odd }} {{ n is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 'a' is in 'abc' }} {{ 3 is eq 3 }} {{ 'abc' is lower }} {{ 'ABC' is upper }}",
    "{{ messages[0].content is string and messages[0].role == 'system' }} {{ (messages|length - 1) - 1 }}",
    # errors
    "{{ raise_exception('Conversation roles must alternate') }}",
    "{% if messages[1].role != 'user' %}{{ raise_exception('bad') }}{% endif %}ok",
    "{{ 'a' + 1 }}",
    "{{ undefined_name.attr }}",
    "{{ none.attr }}x",
]


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def raise_exception(message):
    raise TemplateError(message)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    for source in CASES:
        try:
            out = env.from_string(source).render(**CTX)
        except Exception as e:  # any error: the Java engine must raise too
            out = {"error": type(e).__name__ + ": " + str(e)}
        sys.stdout.write(json.dumps({"template": source, "context": CTX, "expected": out},
                                    ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
