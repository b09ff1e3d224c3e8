"""HF ``tokenizer.json`` out and in: an exported encoding, loaded by HF ``tokenizers``,
gives bpekit's ids (OpenAI's encodings on the corpora; trained ones with a custom
pattern and special tokens on generated text); a ``tokenizer.json`` that ``tokenizers``
itself writes, from ranks turned into merges by a reference BPE written here, reads
back into an encoding that gives HF's ids; whatever bpekit cannot reproduce is refused
with a message naming it, and a failed export leaves no file."""

from __future__ import annotations

import json
import pickle
import random
import unicodedata

import pytest

import bpekit
from bpekit.hf import byte_chars, oniguruma_pattern
from conftest import DATA, corpus

tokenizers = pytest.importorskip("tokenizers", reason="HF tokenizers (a test dependency) is not installed")


def hf_ids(tok, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False).ids


def random_text(seed: int, n: int) -> str:
    rng = random.Random(seed)
    words = ["the", " quick", " brown", "fox", "  ", "\n", "\n\n ", "123", "4567", "'s", "'LL", " héllo", "你好",
             "🙂", "x=1;", "\t", "CamelCase", " don't", "!!", "...", " ", "٣٤", "Ωmega", "<|end|>", "<|x"]
    return "".join(rng.choice(words) for _ in range(n))


def assert_same(enc: bpekit.Encoding, tok, texts: list[str]) -> None:
    """HF splits added tokens out of any text: bpekit's encode with every special allowed."""
    for text in texts:
        assert enc.encode(text, allowed_special="all") == hf_ids(tok, text), text[:200]


@pytest.mark.parametrize("name", ["r50k_base", "cl100k_base", "o200k_base"])
def test_openai_encodings_export_exactly(tmp_path, name):
    if not (DATA / f"{name}.tiktoken").exists():
        pytest.skip(f"{DATA} has no {name}.tiktoken")
    enc = bpekit.get_encoding(name, data_dir=DATA)
    path = enc.save_hf(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer.json", "tokenizer_config.json"]
    tok = tokenizers.Tokenizer.from_file(str(path))
    assert {t: tok.token_to_id(t) for t in enc.special_tokens} == enc.special_tokens
    for sample in ["english", "code", "multilingual"]:
        assert_same(enc, tok, corpus(sample, 120_000).split("\n\n"))
    assert_same(enc, tok, [random_text(s, 60) for s in range(200)])
    # Special tokens: HF splits added tokens out of any text, as encode(allowed_special="all").
    text = "hello <|endoftext|> world<|endoftext|>"
    assert enc.encode(text, allowed_special="all") == hf_ids(tok, text)
    ids = enc.encode(text, allowed_special="all")
    assert tok.decode(ids, skip_special_tokens=False) == enc.decode(ids)
    back = bpekit.from_hf(tmp_path)
    assert (back.mergeable_ranks, back.special_tokens, back.pat_str) == (enc.mergeable_ranks, enc.special_tokens,
                                                                         enc.pat_str)
    assert back.split_engine == enc.split_engine == "named", "the Oniguruma form maps back to the named pattern"


@pytest.fixture(scope="module")
def trained() -> bpekit.Encoding:
    texts = [random_text(s, 400) for s in range(40)]
    return bpekit.train(texts, vocab_size=700, pattern=bpekit.LLAMA3_PATTERN, special_tokens=["<|end|>", "<|pad|>"],
                        name="trained")


def test_trained_encoding_with_custom_pattern_and_specials(tmp_path, trained):
    tok = tokenizers.Tokenizer.from_file(str(trained.save_hf(tmp_path)))
    assert_same(trained, tok, [random_text(1000 + s, 80) for s in range(300)])
    text = random_text(7, 50) + "<|end|><|pad|>"
    assert trained.encode(text, allowed_special="all") == hf_ids(tok, text)
    back = bpekit.from_hf(tmp_path / "tokenizer.json", name="back")
    assert back.name == "back" and back.mergeable_ranks == trained.mergeable_ranks
    assert back.special_tokens == trained.special_tokens and back.pat_str == trained.pat_str


def test_transformers_loads_the_export(tmp_path, trained):
    transformers = pytest.importorskip("transformers", reason="transformers is not installed (optional)")
    trained.save_hf(tmp_path)
    fast = transformers.PreTrainedTokenizerFast.from_pretrained(str(tmp_path))
    text = random_text(3, 80)
    assert fast(text, add_special_tokens=False)["input_ids"] == trained.encode(text, allowed_special="all")
    assert fast.decode(trained.encode_ordinary(text)) == text


def reference_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The merge list a merges-based BPE needs, the way HF's converters derive it: each
    token's bytes merged with the tokens ranked below it, if they end in two parts."""
    out = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        parts = [bytes([b]) for b in token]
        while len(parts) > 2:
            pairs = [(ranks.get(parts[i] + parts[i + 1], 1 << 62), i) for i in range(len(parts) - 1)]
            r, i = min(pairs)
            if r >= rank:
                break
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        if len(parts) == 2 and len(token) >= 2:
            out.append((parts[0], parts[1]))
    return out


def test_import_a_tokenizer_json_that_hf_wrote(tmp_path, trained):
    from tokenizers import Regex, decoders, models, pre_tokenizers

    ranks = trained.mergeable_ranks
    chars = byte_chars()
    text_of = lambda b: "".join(chars[x] for x in b)  # noqa: E731
    vocab = {text_of(t): r for t, r in ranks.items()}
    merges = [(text_of(a), text_of(b)) for a, b in reference_merges(ranks)]
    tok = tokenizers.Tokenizer(models.BPE(vocab, merges, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(bpekit.LLAMA3_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|end|>"])
    tok.save(str(tmp_path / "tokenizer.json"))
    enc = bpekit.from_hf(tmp_path / "tokenizer.json")
    assert enc.special_tokens == {"<|end|>": len(vocab)}
    assert enc.pat_str == bpekit.LLAMA3_PATTERN
    assert_same(enc, tok, [random_text(2000 + s, 80) for s in range(300)])
    text = "a<|end|>b"
    assert enc.encode(text, allowed_special="all") == hf_ids(tok, text)


def nfc_texts() -> list[str]:
    """Texts where NFC changes something: decomposed letters, reordered marks, Hangul jamo,
    singletons, a mark right after a special token (which HF and bpekit find before
    normalizing); the corpora decomposed, where the data is here."""
    base = [random_text(3000 + s, 60) for s in range(150)]
    texts = [unicodedata.normalize("NFD", t) for t in base] + base
    texts += ["cafe\u0301 crème", "a\u0323\u0302 a\u0302\u0323", "\u1100\u1161\u11a8 \uac00", "\u212b \u2126 K",
              "<|end|>\u0338x", " \u0301\u0301", "\u0958\u093c"]
    if (DATA / "multilingual.txt.xz").exists():
        texts += [unicodedata.normalize("NFD", t) for t in corpus("multilingual", 60_000).split("\n\n")]
    return texts


def test_import_a_tokenizer_json_with_the_nfc_normalizer(tmp_path, trained):
    """Qwen's kind of file: NFC, then the split; added tokens not normalized."""
    from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers

    ranks = trained.mergeable_ranks
    chars = byte_chars()
    text_of = lambda b: "".join(chars[x] for x in b)  # noqa: E731
    tok = tokenizers.Tokenizer(models.BPE({text_of(t): r for t, r in ranks.items()},
                                          [(text_of(a), text_of(b)) for a, b in reference_merges(ranks)],
                                          ignore_merges=True))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(bpekit.QWEN2_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|end|>", special=True, normalized=False)])
    tok.save(str(tmp_path / "tokenizer.json"))
    enc = bpekit.from_hf(tmp_path)
    assert enc.normalization == "NFC" and enc.pat_str == bpekit.QWEN2_PATTERN
    assert_same(enc, tok, nfc_texts())
    # Offsets stay in the text as given: each token's span holds the characters it came from.
    text = "cafe\u0301<|end|>\u1100\u1161!"
    spans = enc.encode_with_offsets(text, allowed_special="all", unit="char")
    assert spans.ids == hf_ids(tok, text)
    pieces = [text[s:e] for s, e in zip(spans.starts, spans.ends)]
    end = pieces.index("<|end|>")
    assert pieces[-1] == "!" and set(pieces[end + 1 : -1]) == {"\u1100\u1161"}, pieces
    assert "".join(dict.fromkeys(pieces[:end])) == "cafe\u0301", pieces
    # The normalization is kept by every copy: bpekit's file, pickle, and the export.
    assert bpekit.Encoding.from_bytes(enc.to_bytes()).normalization == "NFC"
    assert pickle.loads(pickle.dumps(enc)).encode(text, allowed_special="all") == spans.ids
    again = tokenizers.Tokenizer.from_file(str(enc.save_hf(tmp_path / "out")))
    assert json.loads(again.to_str())["normalizer"] == {"type": "NFC"}
    assert_same(enc, again, nfc_texts()[:100])


#: DeepSeek-V3's pre-tokenizer steps, as its tokenizer.json has them (each "Isolated").
DEEPSEEK_V3_STEPS = [r"\p{N}{1,3}", "[一-龥\u3040-ゟ゠-ヿ]+",
                     bpekit.DEEPSEEK_V3_PATTERN[bpekit.DEEPSEEK_V3_PATTERN.index("[!"):]]


def hf_from_ranks(ranks: dict[bytes, int], splits: list, byte_level_regex: bool = False, specials=()):
    """A tokenizer that HF ``tokenizers`` builds itself from ranks, with these Split steps."""
    from tokenizers import Regex, decoders, models, pre_tokenizers

    chars = byte_chars()
    text_of = lambda b: "".join(chars[x] for x in b)  # noqa: E731
    tok = tokenizers.Tokenizer(models.BPE({text_of(t): r for t, r in ranks.items()},
                                          [(text_of(a), text_of(b)) for a, b in reference_merges(ranks)],
                                          ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        *(pre_tokenizers.Split(Regex(regex), behavior=how) for regex, how in splits),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=byte_level_regex),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(specials))
    return tok


def chain_texts() -> list[str]:
    base = [random_text(4000 + s, 60) for s in range(200)]
    base += ["abc12345def 中文 x 日本!!", " 中文", "\x00a\x01 ", "ｶﾀｶﾅ and カタカナ", "x\u0301\u0301", "'s'S 123456789"]
    if (DATA / "multilingual.txt.xz").exists():
        base += corpus("multilingual", 60_000).split("\n\n") + corpus("code", 30_000).split("\n\n")
    return base


def test_import_deepseek_style_split_steps(tmp_path):
    """Several Splits in a row become a split chain, exact against HF on the same file."""
    chain = bpekit.split_chain([(regex, "isolated") for regex in DEEPSEEK_V3_STEPS])
    enc = bpekit.train([random_text(s, 300) + " 中文字 日本語のテキスト 12345" for s in range(30)], vocab_size=600,
                       pattern=chain, special_tokens=["<|end|>"])
    tok = hf_from_ranks(enc.mergeable_ranks, [(r, "isolated") for r in DEEPSEEK_V3_STEPS], specials=["<|end|>"])
    tok.save(str(tmp_path / "tokenizer.json"))
    back = bpekit.from_hf(tmp_path)
    assert back.pat_str == chain and back.split_engine == "automaton"
    assert bpekit.split_chain_steps(back.pat_str) == [(r, "isolated") for r in DEEPSEEK_V3_STEPS]
    assert_same(back, tok, chain_texts())
    # Out again: one Split per step; HF gives the same ids; read back to the same chain.
    again = tokenizers.Tokenizer.from_file(str(back.save_hf(tmp_path / "out")))
    steps = json.loads(again.to_str())["pre_tokenizer"]["pretokenizers"]
    assert [s["behavior"] for s in steps[:-1]] == ["Isolated"] * 3
    assert_same(back, again, chain_texts()[:150])
    assert bpekit.from_hf(tmp_path / "out").pat_str == chain


def test_import_a_split_then_byte_level_with_its_own_regex(tmp_path, trained):
    tok = hf_from_ranks(trained.mergeable_ranks, [(r"\p{N}{1,3}", "isolated")], byte_level_regex=True)
    enc = bpekit.from_hf(json.loads(tok.to_str()))
    assert bpekit.split_chain_steps(enc.pat_str) == [(r"\p{N}{1,3}", "isolated"), (bpekit.GPT2_PATTERN, "isolated")]
    assert_same(enc, tok, chain_texts())


def test_an_isolated_regex_that_leaves_text_uncovered_keeps_it(trained):
    """HF keeps the text between an Isolated Split's matches; bpekit too (a one-step chain),
    where the regex does not cover every text as the named patterns do."""
    tok = hf_from_ranks(trained.mergeable_ranks, [(r"[a-z]+", "isolated")])
    enc = bpekit.from_hf(json.loads(tok.to_str()))
    assert bpekit.split_chain_steps(enc.pat_str) == [(r"[a-z]+", "isolated")]
    assert_same(enc, tok, chain_texts()[:100])
    named = hf_from_ranks(trained.mergeable_ranks, [(bpekit.LLAMA3_PATTERN, "isolated")])
    assert bpekit.from_hf(json.loads(named.to_str())).pat_str == bpekit.LLAMA3_PATTERN


def test_the_patterns_taken_as_covering_all_text_do():
    ranks = {bytes([b]): b for b in range(256)}
    text = "".join(chr(c) for c in [*range(0, 0x250), *range(0x300, 0x370), 0x3000, 0x4E00, 0x1F642, 0xFFFD, 0x10FFFD])
    for pattern in bpekit.hf._covers_all():
        enc = bpekit.Encoding("x", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
        assert enc.decode(enc.encode_ordinary(text)) == text, pattern
    deepseek = bpekit.Encoding("x", pat_str=bpekit.DEEPSEEK_V3_PATTERN, mergeable_ranks=ranks, special_tokens={})
    assert deepseek.decode(deepseek.encode_ordinary("a\x00")) == "a", "not covering: must not be in the set"


def test_split_chain_arguments():
    assert bpekit.split_chain_steps(bpekit.CL100K_PATTERN) is None
    with pytest.raises(ValueError, match="'isolated' or 'matches'"):
        bpekit.split_chain([("x", "removed")])
    with pytest.raises(ValueError, match="at least one step"):
        bpekit.split_chain([])
    with pytest.raises(bpekit.PatternError, match="past the end"):
        bpekit.split_chain_steps("(?*chain)(?*isolated:9)x")
    with pytest.raises(bpekit.PatternError, match="step 1"):
        bpekit.Encoding("x", pat_str=bpekit.split_chain([("(", "matches")]), mergeable_ranks={bytes([b]): b for b in
                        range(256)}, special_tokens={})


def test_to_tiktoken_refuses_what_tiktoken_cannot_do(trained):
    pytest.importorskip("tiktoken")
    with pytest.raises(ValueError, match="does not normalize"):
        trained.with_normalization("NFC").to_tiktoken()
    chain = bpekit.Encoding("c", pat_str=bpekit.split_chain([(r"\d+", "isolated")]),
                            mergeable_ranks={bytes([b]): b for b in range(256)}, special_tokens={})
    with pytest.raises(ValueError, match="split chain"):
        chain.to_tiktoken()
    assert trained.with_normalization(None).to_tiktoken().encode("abc") == trained.encode("abc")


def test_normalization_argument():
    ranks = {bytes([b]): b for b in range(256)}
    with pytest.raises(ValueError, match="normalization must be None or 'NFC', not 'NFD'"):
        bpekit.Encoding("x", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={},
                        normalization="NFD")
    plain = bpekit.Encoding("x", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={})
    assert plain.normalization is None and plain.encode("e\u0301") == [101, 204, 129]


def test_nfc_can_lengthen_text_on_every_route():
    """U+1D160 is 4 bytes and 12 after NFC: more ids than bytes, which the short-text
    routes (sized one id per byte) must refuse and hand on, never overrun."""
    ranks = {bytes([b]): b for b in range(256)}
    nfc = bpekit.Encoding("nfc", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks,
                          special_tokens={"<|end|>": 256}, normalization="NFC")
    for n in (1, 3, 400, 16000):
        text = "\U0001D160" * n
        want = list(unicodedata.normalize("NFC", text).encode())
        assert nfc.encode_ordinary(text) == want
        assert nfc.encode(text, allowed_special="all") == want
        assert nfc.count(text) == len(want)
        # A lone surrogate sends the text down the C-string route (tiktoken's fix-up: U+FFFD).
        assert nfc.encode_ordinary(text + "\ud800") == want + list("\ufffd".encode())
        assert nfc.encode_batch([text], num_threads=1) == [want]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_import_transformers_tiktoken_conversion(tmp_path, name):
    """transformers' own converter (every split of a token into two tokens is a merge;
    it numbers the special tokens itself): bpekit reads it and gives HF's ids."""
    if not (DATA / f"{name}.tiktoken").exists():
        pytest.skip(f"{DATA} has no {name}.tiktoken")
    convert = pytest.importorskip("transformers.convert_slow_tokenizer", reason="transformers is not installed")
    named = bpekit.get_encoding(name, data_dir=DATA)
    tok = convert.TikTokenConverter(vocab_file=str(DATA / f"{name}.tiktoken"), pattern=oniguruma_pattern(named.pat_str),
                                    extra_special_tokens=named.special_tokens).converted()
    tok.save(str(tmp_path / "tokenizer.json"))
    enc = bpekit.from_hf(tmp_path)
    assert enc.mergeable_ranks == named.mergeable_ranks and enc.split_engine == "named"
    assert enc.special_tokens == {t: tok.token_to_id(t) for t in named.special_tokens}
    for sample in ["english", "code", "multilingual"]:
        assert_same(enc, tok, corpus(sample, 60_000).split("\n\n"))


def quicktok_llama3() -> tuple[dict[bytes, int], dict[str, int]]:
    """Llama 3's ranks and special tokens, from the files quicktok-v1 bundles (or skip):
    NAME.vocab is a u32 count, then per token a u16 length, the bytes and a u32 rank;
    NAME.special a u32 count, then per token a u32 id, a u16 length and the text."""
    import importlib.resources
    import struct

    quicktok = pytest.importorskip("quicktok", reason="quicktok-v1 (a test dependency, for Llama 3's ranks) is not installed")
    data = importlib.resources.files(quicktok) / "data"
    raw = (data / "llama3.vocab").read_bytes()
    (count,), pos, ranks = struct.unpack_from("<I", raw, 0), 4, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<H", raw, pos)
        ranks[raw[pos + 2 : pos + 2 + n]] = struct.unpack_from("<I", raw, pos + 2 + n)[0]
        pos += 6 + n
    raw = (data / "llama3.special").read_bytes()
    (count,), pos, specials = struct.unpack_from("<I", raw, 0), 4, {}
    for _ in range(count):
        tid, n = struct.unpack_from("<IH", raw, pos)
        specials[raw[pos + 6 : pos + 6 + n].decode()] = tid
        pos += 6 + n
    assert len(ranks) == 128000 and specials["<|begin_of_text|>"] == 128000
    return ranks, specials


def test_import_llama3_through_transformers_converter(tmp_path):
    """Llama 3's real ranks and pattern, converted by transformers (as Meta's
    tokenizer.json was): bpekit reads it, splits with its automaton, and gives HF's ids."""
    convert = pytest.importorskip("transformers.convert_slow_tokenizer", reason="transformers is not installed")
    import base64

    ranks, specials = quicktok_llama3()
    (tmp_path / "llama3.tiktoken").write_bytes(b"".join(base64.b64encode(t) + b" %d\n" % r for t, r in ranks.items()))
    tok = convert.TikTokenConverter(vocab_file=str(tmp_path / "llama3.tiktoken"), pattern=bpekit.LLAMA3_PATTERN,
                                    extra_special_tokens=specials).converted()
    tok.save(str(tmp_path / "tokenizer.json"))
    enc = bpekit.from_hf(tmp_path / "tokenizer.json")
    assert enc.pat_str == bpekit.LLAMA3_PATTERN and enc.split_engine == "named"
    assert enc.mergeable_ranks == ranks and enc.special_tokens == specials
    for sample in ["english", "code", "multilingual"]:
        assert_same(enc, tok, corpus(sample, 60_000).split("\n\n"))


def test_gpt2_style_byte_level_with_its_own_regex(tmp_path, trained):
    data = json.loads(json.dumps(bpekit.hf.to_json(trained)))
    data["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    enc = bpekit.from_hf(data)
    assert enc.pat_str == bpekit.GPT2_PATTERN
    tok = tokenizers.Tokenizer.from_str(json.dumps(data))
    assert_same(enc, tok, [random_text(3000 + s, 80) for s in range(100)])


def test_oniguruma_pattern():
    assert "{1,3}+" not in oniguruma_pattern(bpekit.CL100K_PATTERN)
    assert oniguruma_pattern(bpekit.O200K_PATTERN) == bpekit.O200K_PATTERN
    assert oniguruma_pattern(r"a{2}+|b") == r"a{2}|b"
    assert oniguruma_pattern(r"[{1,3}+]|\p{N}{1,3}+") == r"[{1,3}+]|\p{N}{1,3}", "a class is not a quantifier"
    assert oniguruma_pattern(r"[[a]{2}+]|x{2}+") == r"[[a]{2}+]|x{2}", "nested classes"
    for bad in [r"\p{N}{1,3}+x", r"(\p{N}{1,3}+)", r"(x[[a])]\d{1,3}+|y)\d"]:
        with pytest.raises(ValueError, match="Oniguruma"):
            oniguruma_pattern(bad)


def test_export_refuses_and_writes_nothing(tmp_path):
    enc = bpekit.train(["ab ab 12345"] * 10, vocab_size=260, pattern=r"\d{1,3}+\w|\s+|\w+")
    with pytest.raises(ValueError, match="Oniguruma"):
        enc.save_hf(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_refuses_what_a_tokenizer_json_cannot_hold(tmp_path):
    ranks = {bytes([b]): b for b in range(256)} | {b"ab": 256}
    shared = bpekit.Encoding("s", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks,
                             special_tokens={"<|a|>": 300, "<|b|>": 300})
    with pytest.raises(ValueError, match="share id 300"):
        shared.save_hf(tmp_path / "a")
    clash = bpekit.Encoding("c", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={"ab": 301})
    with pytest.raises(ValueError, match="also token 256"):
        clash.save_hf(tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


def test_text_the_pattern_does_not_match_is_dropped_on_both_sides(tmp_path):
    enc = bpekit.train(["ab ab abc"] * 20, vocab_size=260, pattern=r"\w+")
    tok = tokenizers.Tokenizer.from_file(str(enc.save_hf(tmp_path)))
    for text in ["ab ab", "  abc!! ab ", "", "!!"]:
        assert enc.encode_ordinary(text) == hf_ids(tok, text)


def test_export_files_are_readable_as_any_file_written(tmp_path, trained):
    trained.save_hf(tmp_path / "hf")
    (tmp_path / "plain").write_text("x")
    want = (tmp_path / "plain").stat().st_mode & 0o777
    assert {(p.stat().st_mode & 0o777) for p in (tmp_path / "hf").iterdir()} == {want}


def damaged(trained: bpekit.Encoding, edit) -> dict:
    data = json.loads(json.dumps(bpekit.hf.to_json(trained)))
    edit(data)
    return data


REFUSALS = [
    (lambda d: d["model"].update(type="WordPiece"), "model type 'WordPiece'"),
    (lambda d: d["model"].update(byte_fallback=True), "byte_fallback"),
    (lambda d: d["model"].update(continuing_subword_prefix="##"), "continuing_subword_prefix"),
    (lambda d: d.update(normalizer={"type": "NFKC"}), "normalizer 'NFKC'"),
    (lambda d: d.update(normalizer={"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]}),
     "normalizer 'Lowercase'"),
    (lambda d: (d.update(normalizer={"type": "NFC"}), d["added_tokens"][0].update(normalized=True)),
     "normalized=true under the NFC"),
    (lambda d: d["pre_tokenizer"]["pretokenizers"].insert(0, {"type": "Digits"}), "'Digits'"),
    (lambda d: d["pre_tokenizer"]["pretokenizers"][1].update(add_prefix_space=True), "add_prefix_space"),
    (lambda d: d["pre_tokenizer"]["pretokenizers"][0].update(pattern={"String": " "}), "plain string"),
    (lambda d: d.update(pre_tokenizer=None), "no pre_tokenizer"),
    (lambda d: d.update(decoder={"type": "WordPiece"}), "decoder 'WordPiece'"),
    (lambda d: d["model"]["merges"].reverse(), "merge order"),
    (lambda d: d["model"]["vocab"].update({"\u4e00": 9999}), "not a byte"),
    (lambda d: d["model"]["merges"].append("Ġq Ġq"), "not in the vocabulary"),
    (lambda d: d["pre_tokenizer"]["pretokenizers"][0].update(pattern={"Regex": r"\p{N}{1,3}+|\s+|\S+"}),
     "Oniguruma reads"),
    (lambda d: d["pre_tokenizer"]["pretokenizers"][0].update(behavior="Isolated", invert=True), "invert=True"),
    (lambda d: d["added_tokens"][0].update(lstrip=True), "lstrip=true"),
    (lambda d: (d["added_tokens"][0].update(id=5000), d["model"]["vocab"].pop("<|end|>")), "HF gives it"),
    (lambda d: d["model"]["vocab"].update({"<|end|>": 5}), "HF gives it 5"),
    (lambda d: d["model"].update(merges=d["model"]["merges"][:40] + d["model"]["merges"][41:]), "no merge makes"),
]


@pytest.mark.parametrize("edit, message", REFUSALS, ids=[m for _, m in REFUSALS])
def test_import_refuses_what_it_cannot_reproduce(trained, edit, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        bpekit.from_hf(damaged(trained, edit))


def test_import_without_ignore_merges(trained):
    """Without ignore_merges HF never gives a token merging does not reach; bpekit gives it
    for a piece that is exactly it: refused when there is one, read when there is none."""
    data = damaged(trained, lambda d: d["model"].update(ignore_merges=False))
    enc = bpekit.from_hf(data)  # every token of a trained vocabulary is a merge's result
    assert enc.mergeable_ranks == trained.mergeable_ranks
    ranks = {bytes([b]): b for b in range(256)} | {b"ab": 256, b"xyz": 257}
    odd = bpekit.Encoding("odd", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={})
    data = bpekit.hf.to_json(odd)
    assert bpekit.from_hf(data).encode_ordinary("xyz") == [257]
    data["model"]["ignore_merges"] = False
    with pytest.raises(ValueError, match="no merge reaches"):
        bpekit.from_hf(data)


def test_import_of_damaged_files(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab"')
    with pytest.raises(ValueError, match="not JSON"):
        bpekit.from_hf(tmp_path)
    (tmp_path / "tokenizer.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a tokenizer.json object"):
        bpekit.from_hf(tmp_path / "tokenizer.json")
    with pytest.raises(OSError):
        bpekit.from_hf(tmp_path / "missing.json")
