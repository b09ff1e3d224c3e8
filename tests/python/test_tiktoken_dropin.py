"""What code written for tiktoken calls beyond encode/decode: the model tables, every
encoding name, the private attributes its README uses to extend an encoding, the
private encode helpers, pickling by name. Checked against tiktoken itself where it is
installed (it is a test dependency); tiktoken's own test suite runs through a one-line
shim in ``ci/tiktoken_suite.py``."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bpekit
from conftest import DATA, real_pair

tiktoken = pytest.importorskip("tiktoken", reason="tiktoken (a test dependency) is not installed")


def need_data(name: str = "cl100k_base") -> None:
    if not (DATA / f"{name}.tiktoken").exists():
        pytest.skip(f"{DATA} has no {name}.tiktoken (set BPEKIT_DATA to the shared data directory)")


@pytest.fixture
def registry(monkeypatch):
    """get_encoding reading the shared rank files, with an empty registry (restored after)."""
    from bpekit import _registry

    need_data()
    monkeypatch.setenv("BPEKIT_DATA", str(DATA))
    monkeypatch.setattr(_registry, "_LOADED", {})
    return _registry


@pytest.fixture
def tiktoken_offline(monkeypatch):
    """``tiktoken_offline(name)``: tiktoken's get_encoding, its rank files read from the
    shared data instead of downloaded (by file name; tiktoken's cache is turned off)."""
    import tiktoken.load
    import tiktoken.registry

    def read_file(blobpath: str) -> bytes:
        path = DATA / blobpath.rsplit("/", 1)[-1]
        if not path.exists():
            pytest.skip(f"{path} not found")
        return path.read_bytes()

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    monkeypatch.setattr(tiktoken.load, "read_file", read_file)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    return tiktoken.get_encoding


MODELS = [
    "gpt2", "gpt-2", "text-davinci-003", "text-davinci-edit-001", "code-davinci-edit-001", "gpt-3.5-turbo-0301",
    "gpt-4", "gpt-4-32k", "gpt-4o", "gpt-4o-2024-05-13", "chatgpt-4o-latest", "gpt-4.1-mini", "gpt-5", "gpt-5-nano",
    "o1", "o1-mini", "o3-pro", "o4-mini-high", "gpt-oss-120b", "gpt-35-turbo-16k", "ft:gpt-4o:org:x:1", "ft:gpt-4:x",
    "ft:davinci-002:x", "davinci", "ada", "text-embedding-3-large", "code-search-ada-code-001",
]


@pytest.mark.parametrize("model", MODELS)
def test_model_names_resolve_as_in_tiktoken(model):
    assert bpekit.encoding_name_for_model(model) == tiktoken.encoding_name_for_model(model)


@pytest.mark.parametrize("model", ["gpt-9000", "", "GPT-4", "claude-3", "o2"])
def test_unknown_models_raise_key_error_like_tiktoken(model):
    with pytest.raises(KeyError, match="Could not automatically map") as ours:
        bpekit.encoding_name_for_model(model)
    with pytest.raises(KeyError) as theirs:
        tiktoken.encoding_name_for_model(model)
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(KeyError):
        bpekit.encoding_for_model(model)


def test_encoding_for_model_loads_the_named_encoding(registry):
    enc = bpekit.encoding_for_model("gpt-4o-mini")
    assert enc.name == "o200k_base" and enc is bpekit.get_encoding("o200k_base")
    assert bpekit.encoding_for_model("gpt2").name == "gpt2"
    assert bpekit.encoding_for_model("gpt-oss-20b").name == "o200k_harmony"


def test_every_tiktoken_name_is_known():
    assert set(tiktoken.list_encoding_names()) <= set(bpekit.list_encoding_names())


def test_get_encoding_returns_one_encoding_per_name_until_closed(registry):
    a = bpekit.get_encoding("cl100k_base")
    assert bpekit.get_encoding("cl100k_base") is a
    a.close()
    b = bpekit.get_encoding("cl100k_base")
    assert b is not a and b.encode("hello world") == [15339, 1917]
    assert bpekit.get_encoding("cl100k_base", data_dir=DATA) is not b, "an explicit data_dir loads anew"


def test_gpt2_is_r50k_under_its_own_name(registry):
    need_data("r50k_base")
    gpt2, r50k = bpekit.get_encoding("gpt2"), bpekit.get_encoding("r50k_base")
    assert gpt2.name == "gpt2" and gpt2.n_vocab == 50257
    text = "hello world <|endoftext|> 12345 ünïcödé"
    assert gpt2.encode(text, allowed_special="all") == r50k.encode(text, allowed_special="all")
    assert gpt2.encode("hello world") == [31373, 995]


@pytest.mark.parametrize("name", ["r50k_base", "p50k_base", "p50k_edit", "cl100k_base", "o200k_base", "o200k_harmony"])
def test_named_encodings_equal_tiktokens_own(registry, tiktoken_offline, name):
    """tiktoken's own definition of each encoding (its pattern, special tokens, size);
    gpt2 is left out: tiktoken reads GPT-2's original vocab.bpe and encoder.json for it."""
    ours, tk = bpekit.get_encoding(name), tiktoken_offline(name)
    assert (ours.name, ours.n_vocab, ours.max_token_value, ours.eot_token) == (tk.name, tk.n_vocab, tk.max_token_value, tk.eot_token)
    assert ours._special_tokens == tk._special_tokens and ours._pat_str == tk._pat_str
    text = "<|start|>user<|message|>hi<|end|> <|reserved_200018|><|endofprompt|><|fim_prefix|> <|endoftext|>ok"
    ids = ours.encode(text, allowed_special="all")
    assert ids == tk.encode(text, allowed_special="all")
    # An id that two special tokens share decodes to the first here, to either in
    # tiktoken (by its hash order, which varies from process to process).
    shared = {i: [t for t, j in ours._special_tokens.items() if j == i] for i in set(ours._special_tokens.values())}
    shared = {i: texts for i, texts in shared.items() if len(texts) > 1}
    assert shared == ({200018: ["<|endofprompt|>", "<|reserved_200018|>"]} if name == "o200k_harmony" else {})
    for i, texts in shared.items():
        assert ours.decode([i]) == texts[0] and tk.decode([i]) in texts
    ids = [i for i in ids if i not in shared]
    assert ours.decode(ids) == tk.decode(ids)
    assert [ours.decode_single_token_bytes(i) for i in ids] == [tk.decode_single_token_bytes(i) for i in ids]
    for special in tk.special_tokens_set:
        with pytest.raises(ValueError, match="disallowed special token"):
            ours.encode(special)


def test_extending_an_encoding_as_tiktoken_readme_does(registry):
    base = bpekit.get_encoding("cl100k_base")
    enc = bpekit.Encoding(
        name="cl100k_im",
        pat_str=base._pat_str,
        mergeable_ranks=base._mergeable_ranks,
        special_tokens={**base._special_tokens, "<|im_start|>": 100264, "<|im_end|>": 100265},
    )
    assert enc.encode("<|im_start|>hi<|im_end|>", allowed_special="all") == [100264, 6151, 100265]
    assert base._mergeable_ranks is base._mergeable_ranks, "read once, like tiktoken's attribute"


def test_pickle_by_name_for_registered_encodings(registry):
    need_data("r50k_base")
    enc = bpekit.get_encoding("r50k_base")
    data = pickle.dumps(enc)
    assert len(data) < 200, "a registered encoding pickles as its name"
    back = pickle.loads(data)
    assert back.name == "r50k_base" and back.encode("hello <|endoftext|>", allowed_special="all") == [31373, 220, 50256]
    custom = bpekit.Encoding("custom_enc", pat_str=enc._pat_str, mergeable_ranks=enc._mergeable_ranks,
                             special_tokens={"<|pickle|>": 100_000})
    back = pickle.loads(pickle.dumps(custom))
    assert back.encode("<|pickle|>", allowed_special="all") == [100_000]
    loaded = bpekit.get_encoding("r50k_base", data_dir=DATA)
    assert len(pickle.dumps(loaded)) > 100_000, "not the registry's: pickled whole"


@pytest.fixture(scope="module", params=["r50k_base", "cl100k_base", "o200k_base"])
def pair(request):
    return real_pair(request.param)


SINGLE_PIECES = ["helloqqqq", " hello", "    ", "\n\n", "不", "🙂🙂", "a" * 300, "<|endoftext|>"]


@pytest.mark.parametrize("piece", SINGLE_PIECES, ids=repr)
def test_encode_single_piece_like_tiktoken(pair, piece):
    ours, tk = pair
    assert ours._encode_single_piece(piece) == tk._encode_single_piece(piece)
    raw = piece.encode()
    assert ours._encode_single_piece(raw) == tk._encode_single_piece(raw)


def test_encode_single_piece_of_nothing_is_no_tokens(pair):
    ours, _ = pair  # (tiktoken 0.14 panics on an empty piece)
    assert ours._encode_single_piece("") == ours._encode_single_piece(b"") == []


def test_encode_single_piece_of_bytes_that_are_not_utf8(pair):
    ours, tk = pair
    for raw in [b"\xff", b"\xe4\xbd", b"abc\x80def", bytes(range(256))]:
        assert ours._encode_single_piece(raw) == tk._encode_single_piece(raw)


BYTES_CASES = [
    b"", b"hello world", b"hello \xe4\xbd", b"\xe4\xbd\xa0\xe5", b"\xff\xfe", b"text   \n\n  \xc3", b"a\n \n\x80",
    "日本語のテキスト".encode()[:-1], b"   \xf0\x9f", b"<|endoftext|>\xff",
]


@pytest.mark.parametrize("raw", BYTES_CASES, ids=repr)
def test_encode_bytes_like_tiktoken(pair, raw):
    ours, tk = pair
    assert ours._encode_bytes(raw) == tk._encode_bytes(raw)


@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    cut=st.integers(0, 3),
    junk=st.binary(max_size=6),
)
@settings(max_examples=300, deadline=None)
def test_encode_bytes_of_cut_text_like_tiktoken(text, cut, junk):
    """Text cut inside a character (or followed by arbitrary bytes), the case
    `_encode_bytes` exists for."""
    ours, tk = real_pair("cl100k_base")
    raw = text.encode()
    raw = raw[: len(raw) - cut] + junk
    assert ours._encode_bytes(raw) == tk._encode_bytes(raw)
    assert ours._encode_only_native_bpe(text) == tk._encode_only_native_bpe(text)
