// Generates token vectors for package tokens with OpenAI's tiktoken (the
// npm WASM build), encode_ordinary semantics. Output: JSON on stdout.
import { get_encoding } from "tiktoken";

const corpus = [];
const add = (name, text) => corpus.push({ name, text });

// Prose.
add("prose/en", "The quick brown fox jumps over the lazy dog. It wasn't the fox's fault; they'd planned it, and we'll see what they've done. I'm sure you're right.");
add("prose/en-long", "Token counts drive rate limits, budgets and billing, so they must be exact.\nCounting is also the most expensive thing a gateway does per request, so it must be fast.\n\nThis paragraph follows a blank line.  Two spaces here.   Three there.\tA tab.\n");
add("prose/fr", "L'été dernier, nous sommes allés à la plage — c'était magnifique ! « Très bien », dit-il.");
add("prose/de", "Größenwahnsinnige Straßenbahnfahrer überqueren die Brücke; ÄÖÜ äöü ß ẞ.");
add("prose/ru", "Съешь же ещё этих мягких французских булок, да выпей чаю. МОСКВА Москва");
add("prose/el", "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. ΑΒΓΔ αβγδ ς");
add("prose/tr", "İstanbul'da ılık bir gün; IĞDIR ığdır İi Iı");
// CJK.
add("cjk/zh", "我能吞下玻璃而不伤身体。大型语言模型的令牌计数必须精确。");
add("cjk/ja", "私はガラスを食べられます。それは私を傷つけません。カタカナとひらがな、漢字。ｶﾀｶﾅ");
add("cjk/ko", "나는 유리를 먹을 수 있어요. 그래도 아프지 않아요. 한국어 텍스트");
add("cjk/mixed", "中文English混合テキストmixed한국어123数字４５６");
// RTL and Indic.
add("rtl/ar", "أنا قادر على أكل الزجاج و هذا لا يؤلمني. العربية ١٢٣٤٥ مرحبا بالعالم");
add("rtl/ar-diacritics", "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ");
add("rtl/he", "אני יכול לאכול זכוכית וזה לא מזיק לי. שָׁלוֹם עוֹלָם");
add("indic/hi", "मैं काँच खा सकता हूँ और मुझे उससे कोई चोट नहीं पहुंचती। नमस्ते दुनिया १२३");
add("indic/ta", "நான் கண்ணாடி சாப்பிடுவேன், அதனால் எனக்கு ஒரு கேடும் வராது.");
add("indic/th", "ฉันกินกระจกได้ แต่มันไม่ทำให้ฉันเจ็บ");
// Emoji and ZWJ sequences.
add("emoji/simple", "Hello 👋 world 🌍! 😀😃😄😁 🎉🎉🎉");
add("emoji/zwj", "👨‍👩‍👧‍👦 🧑‍🤝‍🧑 👩🏽‍💻 🏳️‍🌈 🏴‍☠️ ❤️‍🔥");
add("emoji/flags-skin", "🇺🇸🇫🇷🇯🇵 👍🏻👍🏼👍🏽👍🏾👍🏿 ✋🏿");
add("emoji/keycaps", "1️⃣ 2️⃣ #️⃣ *️⃣ ©️ ®️ ™️");
// Whitespace.
add("ws/spaces", "a b  c   d    e     f      g");
add("ws/trailing-spaces", "trailing   ");
add("ws/leading-spaces", "   leading");
add("ws/only-spaces", "        ");
add("ws/only-newlines", "\n\n\n\n");
add("ws/mixed", "a \t b\t\tc \n d\n\n e \r\n f\r\rg \n \n h");
add("ws/trailing-mixed", "end \n  \t ");
add("ws/newline-then-spaces", "x\n    y\n\t\tz\n  ");
add("ws/crlf", "line one\r\nline two\r\n\r\nline four\r\n");
add("ws/unicode", "a\u00a0b\u2003c\u3000d\u2028e\u2029f\u0085g\u000bh\u000ci\u200bj\ufeffk");
add("ws/space-before-punct", "a ! b  !! c \n! d");
add("ws/tabs", "\t\t\tindented\n\t\tless\n\tleast\n");
// Code.
add("code/go", "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfor i := 0; i < 10; i++ {\n\t\tfmt.Printf(\"%d: %s\\n\", i, strings.Repeat(\"x\", i))\n\t}\n}\n");
add("code/python", "def fib(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\nprint([fib(i) for i in range(20)])  # comment\n");
add("code/js", "const add = (a, b) => a + b;\nexport default function App() {\n  return <div className=\"app\">{items.map((x) => x?.name ?? 'none')}</div>;\n}\n// TODO: fix // paths /usr/local/bin\n");
add("code/json", "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi!\"}],\"temperature\":0.7,\"max_tokens\":256,\"stream\":true}");
add("code/html", "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>T</title></head>\n<body><p>a&amp;b &lt;c&gt;</p></body></html>");
add("code/regex-and-paths", "s/([A-Z]+)\\s*=\\s*(\\d{1,3})/\\2/g; C:\\Users\\me\\file.txt /etc/nginx//conf.d///x //\n/\n// /*! */");
add("code/rust", "fn main() -> Result<(), Box<dyn Error>> {\n    let v: Vec<u8> = vec![1, 2, 3];\n    println!(\"{:?}\", v.iter().map(|x| x * 2).collect::<Vec<_>>());\n    Ok(())\n}\n");
add("code/sql", "SELECT u.id, COUNT(*) AS n FROM users u JOIN orders o ON o.user_id = u.id WHERE u.created_at >= '2024-01-01' GROUP BY u.id HAVING n > 10;");
add("code/minified", "!function(e,t){\"object\"==typeof exports&&\"undefined\"!=typeof module?module.exports=t():e.x=t()}(this,function(){return 42});");
// Numbers.
add("num/digits", "0 1 12 123 1234 12345 123456 1234567 12345678 123456789 1234567890");
add("num/long", "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798214808651");
add("num/mixed", "v1.2.3 10x 2nd 3rd 1e-9 0xDEADBEEF -42 +7 1,000,000 $19.99 50% 2024-08-06T12:34:56Z");
add("num/unicode", "١٢٣٤٥٦٧ ०१२३४५६ ①②③ ⅠⅡⅢ ½¾ ²³ 一二三");
// Contractions.
add("contr/lower", "it's don't we're you've I'm we'll she'd 's 't 're 've 'm 'll 'd");
add("contr/upper", "IT'S DON'T WE'RE YOU'VE I'M WE'LL SHE'D 'S 'T 'RE 'VE 'M 'LL 'D 'Re 'rE 'Ll 'lL");
add("contr/edge", "'x 'st 'sa 'rea 'llama ''s '''re x'' 'ſ 'ſt x'ſt Don'ſ rock'n'roll 'twas o'clock");
add("contr/o200k", "HELLO'S Hello's hello'S ÀB'll ǅemal'Ve ʰello's");
// Punctuation.
add("punct/runs", "!!! ??? ... ,,, ;;; ::: --- ___ *** ### $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}} ||| ~~~ ``` \"\"\" '''");
add("punct/mixed", "Hello!!! What?!? Wait... (really?) [sic] {ok} <tag/> a->b a=>b a::b a||b a&&b ¿Qué? ¡Sí! «»„“”‘’");
add("punct/slashes", "a/b//c///d\n/\n//e/ /f !/\n/ ?//\r\n/x");
// Special-token text (ordinary).
add("special/endoftext", "<|endoftext|> hello <|endoftext|><|fim_prefix|>x<|fim_middle|>y<|fim_suffix|>z<|endofprompt|><|im_start|>user<|im_end|>");
// Repeats.
add("repeat/a", "a".repeat(1000));
add("repeat/space-a", " a".repeat(300));
add("repeat/abc", "abc".repeat(400));
add("repeat/newlines", "\n".repeat(200) + "x" + " ".repeat(200));
add("repeat/word", "hello world ".repeat(200));
add("repeat/cjk", "的".repeat(300));
add("repeat/emoji", "😀".repeat(100));
add("repeat/punct", "=-".repeat(300));
add("repeat/digits", "9".repeat(500));
// Marks and letter classes (o200k's case-sensitive classes).
add("marks/combining", "e\u0301 a\u0308 n\u0303 \u0301alone x\u0301\u0302\u0303y \u0301\u0302 A\u0301B\u0301c");
add("marks/lm-lt-lo", "ʰʱʲ ǅǈǋ ªº ǅa aǅ AǅB ʰA Aʰb ªAB ªABc xªAB!ªAB");
add("marks/upper-runs", "HTTPServer XMLHttpRequest getHTTPResponse iOS macOS CamelCase ALLCAPS mIxEd");
add("misc/urls", "https://example.com/path/to/page?query=1&b=two#frag mailto:a@b.co ftp://x.y/z/");
add("misc/empty", "");
add("misc/single", "a");
add("misc/single-space", " ");
add("misc/single-newline", "\n");
add("misc/math", "∀x∈ℝ: x² ≥ 0 ∑ᵢ₌₁ⁿ i = n(n+1)/2 ∫₀^∞ e^{-x} dx = 1 ≠ ≤ ≈ ∞");
add("misc/box", "┌──┐\n│ab│\n└──┘ ░▒▓█ ▲▼◆●");
add("misc/supplementary", "𝐀𝐁𝐂 𝒜𝒷𝒸 𝔸𝕓 𠀀𠀁 𓀀𓀁 𝟘𝟙𝟚");

// Seeded random strings over a pool that hits every class of the patterns.
const pool = [
  "a", "b", "s", "t", "e", "r", "v", "l", "m", "d", "S", "T", "R", "E", "L", "D", "X", "'", "'", "'",
  " ", " ", " ", "\t", "\n", "\r", "\u00a0", "\u3000", "\u2028",
  "0", "1", "9", "٣", "½", "Ⅻ",
  "!", ".", ",", "/", "/", "-", "_", "\"", "(", "<", "|", ">",
  "é", "É", "ß", "ſ", "ǅ", "ʰ", "ª", "中", "文", "ア", "한", "ا", "ب", "ש", "क", "ि",
  "\u0301", "\u0308", "\u093f",
  "😀", "👍🏽", "\u200d", "\ufe0f", "𝐀", "𠀀",
];
let seed = 20240806;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
for (let k = 0; k < 400; k++) {
  const len = 1 + rnd(k < 200 ? 12 : 48);
  let s = "";
  for (let i = 0; i < len; i++) s += pool[rnd(pool.length)];
  add(`random/${k}`, s);
}

const names = ["cl100k_base", "o200k_base", "p50k_base", "r50k_base"];
const encs = Object.fromEntries(names.map((n) => [n, get_encoding(n)]));
const out = corpus.map(({ name, text }) => {
  const v = { name, text };
  for (const n of names) v[n] = Array.from(encs[n].encode_ordinary(text));
  return v;
});
for (const e of Object.values(encs)) e.free();
// One vector per line keeps diffs readable.
process.stdout.write('{"generator": "npm tiktoken 1.0.22, encode_ordinary", "vectors": [\n' +
  out.map((v) => JSON.stringify(v)).join(",\n") + "\n]}\n");
