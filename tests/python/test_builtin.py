"""The CPython builtins behind encode_ordinary and encode_to_numpy (_lowlevel.PYTHON_ENCODER):
used where they can be, the same ids as the cffi route, references balanced, nothing
leaked, and long texts encoded with the GIL released by threads sharing one Encoding."""

from __future__ import annotations

import gc
import re
import sys
import threading
import tracemalloc

import pytest

import bpekit
from bpekit import _lowlevel
from conftest import on_route

needs_builtin = pytest.mark.skipif(
    _lowlevel.make_builtin is None,
    reason="no builtin on this interpreter (not CPython, free-threaded, or BPEKIT_PYTHON_BUILTIN=0)",
)


@pytest.fixture(scope="module")
def enc() -> bpekit.Encoding:
    texts = ["The quick brown fox jumps over the lazy dog. " * 20, "héllo wörld 你好世界 🙂 " * 10]
    return bpekit.train(texts, vocab_size=400, special_tokens=["<|end|>"])


TEXTS = ["", "a", "ab", "héllo", "你好", "🙂🙂", "a\0b", "<|end|>", "x < y <|end", "x" * 300, "the lazy dog. " * 50]


def test_builtin_is_used_on_cpython(enc):
    import sysconfig

    cpython = sys.implementation.name == "cpython" and not sysconfig.get_config_var("Py_GIL_DISABLED")
    if not cpython:
        pytest.skip(f"{sys.implementation.name}: the cffi route is used")
    if _lowlevel.os.environ.get("BPEKIT_PYTHON_BUILTIN") == "0":
        pytest.skip("BPEKIT_PYTHON_BUILTIN=0")
    assert type(enc._fast).__name__ == "builtin_function_or_method"
    assert enc._fast.__name__ == "encode_ordinary"
    assert enc._fast_u32.__name__ == "encode_ordinary_u32"
    assert enc._fast_batch.__name__ == "encode_ordinary_batch"
    assert enc._fast_batch_u32.__name__ == "encode_ordinary_batch_u32"
    assert enc._fast_default.__name__ == "encode"
    assert enc._fast_default_u32.__name__ == "encode_u32"
    assert enc._fast_all.__name__ == "encode_all_special"
    assert enc._fast_all_u32.__name__ == "encode_all_special_u32"
    assert enc._fast_decode.__name__ == "decode_bytes"


@needs_builtin
def test_builtin_gives_the_cffi_ids(enc):
    cffi = on_route(enc, "cffi")
    for text in TEXTS:
        assert enc._fast(text) == cffi.encode_ordinary(text) == enc.encode_ordinary(text), repr(text)
    # what the builtin refuses, the wrapper answers (tiktoken's surrogate fix-up) or refuses
    with pytest.raises(UnicodeEncodeError):
        enc._fast("a\ud800")
    assert enc.encode_ordinary("a\ud800") == cffi.encode_ordinary("a\ud800")
    with pytest.raises(TypeError):
        enc._fast(b"ab")
    with pytest.raises(TypeError, match="expected str"):
        enc.encode_ordinary(b"ab")


@needs_builtin
def test_default_builtins_give_the_cffi_ids_or_refuse(enc):
    """The builtins for tiktoken's default `encode` give the cffi route's ids for text
    without a special token's text (a "<" or an unfinished token is ordinary text), and
    refuse the rest, which `encode` and `encode_to_numpy` then raise as tiktoken does."""
    np = pytest.importorskip("numpy")
    cffi = on_route(enc, "cffi")
    plain = [t for t in TEXTS if "<|end|>" not in t] + ["a < b", "<|end", "|end|>", "<|en\nd|>" * 50]
    for text in plain:
        want = cffi.encode(text)
        assert enc._fast_default(text) == want == enc.encode(text), repr(text)
        assert np.frombuffer(enc._fast_default_u32(text), dtype=np.uint32).tolist() == want, repr(text)
        assert enc.encode_to_numpy(text).tolist() == want, repr(text)
    for text in ["<|end|>", "a<|end|>b", "x" * 70_000 + "<|end|>", "é<|end|>"]:
        for builtin in (enc._fast_default, enc._fast_default_u32):
            with pytest.raises(bpekit.TokenizerError):
                builtin(text)
        for method in (enc.encode, enc.encode_to_numpy, cffi.encode):
            with pytest.raises(ValueError, match=re.escape("disallowed special token '<|end|>'")):
                method(text)
    with pytest.raises(UnicodeEncodeError):
        enc._fast_default("a\ud800")
    assert enc.encode("a\ud800<") == cffi.encode("a\ud800<")
    assert enc.encode_to_numpy("a\ud800<").tolist() == cffi.encode("a\ud800<")


def outcome(f, *a, **kw):
    """f's result, or its exception's class and message."""
    try:
        r = f(*a, **kw)
        return r.tolist() if hasattr(r, "tolist") else r
    except Exception as e:  # noqa: BLE001 (compared, not handled)
        return (type(e), str(e))


class Str(str):
    def __contains__(self, x):  # a subclass is read by its characters, whatever it says
        return False


@needs_builtin
@pytest.mark.parametrize("specials", [[], ["[SEP]", "[CLS]"], ["<|a|>", "<|ab|>", "x<|"]])
def test_policy_builtins_agree_with_cffi_on_any_special_tokens(specials):
    """Every route of encode, encode_to_numpy and encode_batch under the policies the
    builtins serve gives the cffi route's ids, or its exception (class and message), on
    encodings with no special tokens, with some that do not start with "<", and with
    overlapping ones; texts with special tokens at either end, lone surrogates beside
    them, and a str subclass."""
    pytest.importorskip("numpy")
    enc = bpekit.train(["hello world [SEP] <|a|> x " * 20, "héllo 你好 🙂"], vocab_size=300, special_tokens=specials)
    cffi = on_route(enc, "cffi")
    texts = ["", "plain", "a < b", "[SEP]x", "x[CLS]", "<|ab|>", "x<|a|>y", "x<|ab", "a\ud800", "a\ud800[SEP]",
             "<|a|>\ud800", Str("q[SEP]"), Str("q<|a|>"), "é" * 300 + "[CLS]", "z" * 300]
    kws = [{}, {"disallowed_special": ()}, {"allowed_special": "all"}, {"allowed_special": set(specials)},
           {"allowed_special": "all", "disallowed_special": ()}]
    for text in texts:
        for kw in kws:
            for method in ("encode", "encode_to_numpy"):
                got, want = outcome(getattr(enc, method), text, **kw), outcome(getattr(cffi, method), text, **kw)
                assert got == want, (text, kw, method)
    for kw in kws:
        assert outcome(enc.encode_batch, texts, **kw) == outcome(cffi.encode_batch, texts, **kw), kw
        got, want = outcome(enc.encode_batch_to_numpy, texts, **kw), outcome(cffi.encode_batch_to_numpy, texts, **kw)
        if isinstance(want, tuple) and len(want) == 2 and isinstance(want[0], type):
            assert got == want, kw
        else:
            assert [a.tolist() for a in got] == [a.tolist() for a in want], kw


@needs_builtin
def test_all_special_builtins_give_the_cffi_ids(enc):
    """The builtins for `encode(text, allowed_special="all")` give the cffi route's ids,
    special tokens' text as their ids (alone, inside, at either end, repeated, next to
    an unfinished one), through `encode`, `encode_to_numpy` and `encode_batch`."""
    np = pytest.importorskip("numpy")
    cffi = on_route(enc, "cffi")
    texts = [*TEXTS, "a<|end|>b", "<|end|><|end|>x<|end|>", "é<|end", "<|en<|end|>d|>", "x" * 70_000 + "<|end|>"]
    end = enc.encode_single_token("<|end|>")
    assert enc._fast_all("a<|end|>b").count(end) == 1
    for text in texts:
        want = cffi.encode(text, allowed_special="all")
        assert enc._fast_all(text) == want == enc.encode(text, allowed_special="all"), repr(text)
        assert np.frombuffer(enc._fast_all_u32(text), dtype=np.uint32).tolist() == want, repr(text)
        assert enc.encode_to_numpy(text, allowed_special="all").tolist() == want, repr(text)
        # the same policy spelled out: every special token allowed, nothing disallowed
        assert enc.encode(text, allowed_special=enc.special_tokens_set, disallowed_special=()) == want
    assert enc.encode_batch(texts, allowed_special="all") == [cffi.encode(t, allowed_special="all") for t in texts]
    with pytest.raises(UnicodeEncodeError):
        enc._fast_all("a\ud800")
    assert enc.encode("a\ud800<|end|>", allowed_special="all") == cffi.encode("a\ud800<|end|>", allowed_special="all")


@needs_builtin
def test_decode_builtin_gives_the_cffi_bytes_or_refuses(enc):
    """The decode builtin gives the cffi route's bytes for a list of ids (special tokens,
    bools and int subclasses included, long lists decoded without the GIL), and refuses
    what the cffi route then raises its own way: ids that are no token, negative or too
    large, and items that are not ints."""
    cffi = on_route(enc, "cffi")
    end = enc.encode_single_token("<|end|>")
    lists = [enc.encode_ordinary(t) for t in TEXTS] + [[end, 65, end], [True, False], [], list(range(256)) * 40]

    class Id(int):
        pass

    lists.append([Id(x) for x in enc.encode_ordinary("héllo")])
    for ids in lists:
        want = cffi.decode_bytes(ids)
        assert enc._fast_decode(ids) == want == enc.decode_bytes(ids), ids[:10]
        assert enc.decode(ids) == cffi.decode(ids)
    big = enc.n_vocab + 5
    for bad, error in [([65, big], bpekit.UnknownTokenError), ([-1], OverflowError), ([2**32], OverflowError),
                       ([2**80], OverflowError), ([1.0], TypeError), (["a"], TypeError), ([None], TypeError)]:
        with pytest.raises((bpekit.TokenizerError, TypeError, OverflowError)):
            enc._fast_decode(bad)
        with pytest.raises(error) as got:
            enc.decode_bytes(bad)
        with pytest.raises(error) as want:
            cffi.decode_bytes(bad)
        assert type(got.value) is type(want.value) and str(got.value) == str(want.value)
    with pytest.raises(SystemError):
        enc._fast_decode((65,))  # not a list: the methods send only lists


@needs_builtin
def test_u32_builtin_gives_the_cffi_arrays(enc):
    """encode_to_numpy through the bytearray builtin (ordinary text, or a policy that
    cannot meet a special token) equals the cffi route's array, is writable and owns a
    copy; what the builtin refuses, the cffi route answers or raises."""
    np = pytest.importorskip("numpy")
    cffi = on_route(enc, "cffi")
    # (After one call numpy is loaded, and the common calls below take encode_to_numpy's
    # shortcut to the builtins: its fallbacks are what this checks.)
    enc.encode_to_numpy("x")
    assert bpekit.core._FROMBUFFER is not None
    for text in [*TEXTS, "é" * 5000, "a<|end|>b" * 3]:
        raw = enc._fast_u32(text)
        assert type(raw) is bytearray
        assert np.frombuffer(raw, dtype=np.uint32).tolist() == cffi.encode_ordinary(text), repr(text)
        for kw in [{"disallowed_special": ()}, {"allowed_special": "all"}, {}]:
            if "<|end|>" in text and not kw:
                with pytest.raises(ValueError, match="disallowed special token"):
                    enc.encode_to_numpy(text, **kw)
                continue
            got, want = enc.encode_to_numpy(text, **kw), cffi.encode_to_numpy(text, **kw)
            assert got.dtype == want.dtype == np.uint32 and got.tolist() == want.tolist(), (text, kw)
            assert got.flags.writeable
    assert enc.encode_to_numpy("a\ud800b").tolist() == cffi.encode_to_numpy("a\ud800b").tolist()
    with pytest.raises(UnicodeEncodeError):
        enc._fast_u32("a\ud800")
    with pytest.raises(TypeError):
        enc._fast_u32(b"ab")
    with pytest.raises(TypeError, match="expected str"):
        enc.encode_to_numpy(b"ab")


@needs_builtin
@pytest.mark.parametrize("threads", [0, 1, 2, 3])
def test_batch_builtin_gives_the_cffi_lists(enc, threads):
    """encode_batch through the batch builtin (texts that cannot hold a special token,
    or a policy that ignores them) equals the cffi route's lists, for any thread count;
    what it refuses (lone surrogates, an item that is not a str, a disallowed special
    token, a bad thread count) the cffi route answers or raises as before."""
    cffi = on_route(enc, "cffi")
    texts = [*TEXTS, "é" * 5000, "你好世界 " * 3000, "x" * 70_000] * 3
    plain = [t for t in texts if "<|end|>" not in t]
    assert enc._fast_batch((plain, threads)) == [cffi.encode_ordinary(t) for t in plain]
    assert enc._fast_batch((plain, threads, 1)) == cffi.encode_batch(plain)
    all_special = [cffi.encode(t, allowed_special="all") for t in texts]
    assert enc._fast_batch((texts, threads, 2)) == all_special
    for kw in [{"disallowed_special": ()}, {"allowed_special": "all"}, {}]:
        batch = plain if not kw else texts
        assert enc.encode_batch(batch, num_threads=threads, **kw) == cffi.encode_batch(batch, num_threads=threads, **kw)
    assert enc.encode_ordinary_batch(iter(texts), num_threads=threads) == cffi.encode_ordinary_batch(texts)
    assert enc.encode_ordinary_batch([]) == []
    odd = ["a\ud800b", "ok"]
    assert enc.encode_ordinary_batch(odd, num_threads=threads) == cffi.encode_ordinary_batch(odd)
    check_refusals(enc._fast_batch, enc.encode_batch, texts, plain, odd, threads)


def check_refusals(builtin, method, texts, plain, odd, threads):
    """What a batch builtin refuses (lone surrogates, an item that is not a str, a bad
    thread count or argument, a special token's text under tiktoken's default checks)
    and what its method then raises."""
    with pytest.raises(UnicodeEncodeError):
        builtin((odd, threads))
    with pytest.raises(TypeError):
        builtin((["a", b"b"], threads))
    with pytest.raises(TypeError):
        method(["a", b"b"], disallowed_special=())
    with pytest.raises(ValueError, match="disallowed special token"):
        method(texts)
    with pytest.raises(bpekit.TokenizerError):
        builtin((texts, threads, 1))  # tiktoken's default checks: a special token's text
    builtin((texts, threads, 0))
    builtin((texts, threads, 2))
    for mode in (3, -1):
        with pytest.raises(bpekit.TokenizerError, match="mode must be 0, 1 or 2"):
            builtin((plain, threads, mode))
    with pytest.raises(TypeError):
        builtin((plain, threads, "yes"))
    with pytest.raises(bpekit.TokenizerError, match="a tuple of 4"):
        builtin((plain, threads, 0, 0))
    with pytest.raises(bpekit.TokenizerError):
        builtin((plain, -1))
    with pytest.raises(TypeError):
        builtin((plain, "2"))
    with pytest.raises((TypeError, SystemError)):
        builtin(plain)  # not a (texts, num_threads) tuple


@needs_builtin
@pytest.mark.parametrize("threads", [0, 1, 2])
def test_flat_batch_builtin_gives_the_cffi_arrays(enc, threads):
    """encode_batch_to_numpy through the flat builtin equals the cffi route's arrays
    (ids, offsets and dtypes), whatever the thread count; what the builtin refuses the
    cffi route answers or raises as before."""
    np = pytest.importorskip("numpy")
    cffi = on_route(enc, "cffi")
    texts = [*TEXTS, "é" * 5000, "你好世界 " * 3000, "x" * 70_000] * 3
    plain = [t for t in texts if "<|end|>" not in t]

    def same(a, b):
        assert a[0].dtype == b[0].dtype == np.uint32 and a[1].dtype == b[1].dtype == np.uint64
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])

    ids, offsets = enc._fast_batch_u32((plain, threads))
    same((np.frombuffer(ids, np.uint32), np.frombuffer(offsets, np.uint64)),
         cffi.encode_batch_to_numpy(plain, num_threads=threads))
    for kw in [{"disallowed_special": ()}, {"allowed_special": "all"}, {}]:
        batch = plain if not kw else texts
        same(enc.encode_batch_to_numpy(batch, num_threads=threads, **kw),
             cffi.encode_batch_to_numpy(batch, num_threads=threads, **kw))
    same(enc.encode_batch_to_numpy(iter(plain), num_threads=threads), cffi.encode_batch_to_numpy(plain))
    same(enc.encode_batch_to_numpy([]), cffi.encode_batch_to_numpy([]))
    flat, off = enc.encode_batch_to_numpy(plain)
    assert [flat[off[i]:off[i + 1]].tolist() for i in range(len(plain))] == [cffi.encode_ordinary(t) for t in plain]
    odd = ["a\ud800b", "ok"]
    same(enc.encode_batch_to_numpy(odd, disallowed_special=()), cffi.encode_batch_to_numpy(odd, disallowed_special=()))
    check_refusals(enc._fast_batch_u32, enc.encode_batch_to_numpy, texts, plain, odd, threads)


@needs_builtin
def test_builtin_holds_its_handle_and_lets_it_go(enc):
    """The builtin keeps the native handle alive after close() (a call under way must not
    lose it), and its references are given back when it goes."""
    e2 = on_route(enc, "builtin")
    handle = e2._raw

    class Failure(Exception):
        pass

    gc.collect()
    before = (sys.getrefcount(handle), sys.getrefcount(Failure))
    extra = [_lowlevel.make_builtin(handle, Failure) for _ in range(10)]
    assert (sys.getrefcount(handle), sys.getrefcount(Failure)) == (before[0] + 10, before[1] + 10)
    del extra
    gc.collect()
    assert (sys.getrefcount(handle), sys.getrefcount(Failure)) == before
    f, f32, fb, fb32 = e2._fast, e2._fast_u32, e2._fast_batch, e2._fast_batch_u32
    fd = e2._fast_default
    e2.close()
    with pytest.raises(ValueError, match="closed"):
        e2.encode("ab")
    assert fd("héllo") == enc.encode("héllo")  # alive through fd
    del fd
    with pytest.raises(ValueError, match="closed"):
        e2.encode_ordinary("ab")
    with pytest.raises(ValueError, match="closed"):
        e2.encode_to_numpy("ab")
    assert f("héllo") == enc.encode_ordinary("héllo")  # still alive through f
    del f
    assert list(memoryview(f32("héllo")).cast("I")) == enc.encode_ordinary("héllo")  # and f32
    del f32
    assert fb((["héllo", "x"], 2)) == [enc.encode_ordinary("héllo"), enc.encode_ordinary("x")]  # and fb
    del fb
    assert list(memoryview(fb32((["héllo"], 2))[0]).cast("I")) == enc.encode_ordinary("héllo")  # and fb32
    with pytest.raises(ValueError, match="closed"):
        e2.encode_ordinary_batch(["ab"])
    with pytest.raises(ValueError, match="closed"):
        e2.encode_batch_to_numpy(["ab"])
    del fb32, handle


@needs_builtin
def test_builtin_does_not_leak(enc):
    texts = [t * k for t in TEXTS for k in (1, 3)]
    for t in texts:
        enc.encode_ordinary(t)
        enc._fast_u32(t)
    batch = (texts, 2)
    enc._fast_batch(batch)
    enc._fast_batch_u32(batch)
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(2):  # the first round settles caches and free lists
            base = tracemalloc.get_traced_memory()[0]
            for _ in range(3000):
                for t in texts:
                    enc.encode_ordinary(t)
                    enc._fast_u32(t)
                enc._fast_batch(batch)
                enc._fast_batch_u32(batch)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    # 120k calls that each leaked a list, a bytearray or an int would have grown by megabytes
    assert grown < 64 * 1024, grown


@needs_builtin
def test_batch_builtin_holds_its_texts(enc):
    """The batch builtin encodes the texts the list held when it was called, even if
    another thread empties the list (and drops the last other reference to each text)
    while the GIL is released."""
    base = [f"text {i}: " + "héllo wörld, 你好 " * 300 for i in range(48)]
    want = [enc.encode_ordinary(t) for t in base]
    for _ in range(30):
        texts = [(t + " ")[:-1] for t in base]  # objects only this list holds
        started = threading.Event()

        def clear(texts=texts, started=started) -> None:
            started.wait()
            texts.clear()

        th = threading.Thread(target=clear)
        th.start()
        started.set()
        got = enc._fast_batch((texts, 2))
        th.join()
        assert got == want


@needs_builtin
def test_builtin_threads_share_one_encoding(enc):
    """Texts of 256+ bytes (and lists of 4096+ ids) are encoded (decoded) with the GIL
    released: four threads on one Encoding get the results one thread gets, through
    each policy's builtins."""
    texts = [f"thread {i}: the quick brown fox, héllo 你好. " * (20 + i) for i in range(24)]
    want = [enc.encode_ordinary(t) for t in texts]
    with_special = [t + "<|end|>" + t for t in texts]
    want_all = [enc.encode(t, allowed_special="all") for t in with_special]
    long_ids = [i % 256 for i in range(5000)]
    want_decoded = enc.decode_bytes(long_ids)
    got: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            got[k] = [enc.encode_ordinary(t) for _ in range(20) for t in texts][-len(texts):]
            for _ in range(5):
                assert enc.encode_ordinary_batch(texts, num_threads=2) == want
                assert [enc.encode(t) for t in texts] == want
                assert [enc.encode(t, allowed_special="all") for t in with_special] == want_all
                assert enc.encode_batch(with_special, allowed_special="all", num_threads=2) == want_all
                assert enc.decode_bytes(long_ids) == want_decoded
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert all(got[k] == want for k in range(4))


@needs_builtin
def test_builtin_maker_refuses_bad_arguments(enc):
    """As the package calls it (ctypes): each bad argument is refused with its status and
    nothing appended; a good call appends one list of the nine working builtins."""
    maker = _lowlevel.python_encoder_export()
    ffi, lib = _lowlevel.ffi, _lowlevel.lib
    api = _lowlevel.make_builtin.api  # type: ignore[attr-defined]
    good = int(ffi.cast("uintptr_t", api))
    api_type = f"{_lowlevel.PYTHON_API} *"
    other_size = ffi.new(api_type, api[0])
    other_size.size -= 8
    missing = ffi.new(api_type, api[0])
    missing.dec_ref = ffi.NULL
    other_fns = ffi.new(api_type, api[0])
    other_fns.dec_ref, other_fns.inc_ref = api.inc_ref, api.dec_ref
    tok = int(ffi.cast("uintptr_t", enc._raw))
    out: list = []
    for a, t, want in [(None, tok, lib.BPEKIT_ERR_NULL_ARG), (good, None, lib.BPEKIT_ERR_NULL_ARG),
                       (other_size, tok, lib.BPEKIT_ERR_INVALID_ARG), (missing, tok, lib.BPEKIT_ERR_INVALID_ARG),
                       (other_fns, tok, lib.BPEKIT_ERR_INVALID_ARG)]:
        address = a if a is None or isinstance(a, int) else int(ffi.cast("uintptr_t", a))
        assert maker(address, t, enc._raw, bpekit.TokenizerError, out, None) == want
        assert out == []
    assert maker(good, tok, enc._raw, bpekit.TokenizerError, out, None) == 0
    assert len(out) == 1 and len(out[0]) == len(bpekit._route.BUILTINS)
    assert out[0][0]("ab") == enc.encode_ordinary("ab")
    assert list(memoryview(out[0][1]("ab")).cast("I")) == enc.encode_ordinary("ab")
    assert out[0][2]((["ab", "c"], 1)) == [enc.encode_ordinary("ab"), enc.encode_ordinary("c")]
    ids, offsets = out[0][3]((["ab", "c"], 1))
    assert list(memoryview(ids).cast("I")) == enc.encode_ordinary("ab") + enc.encode_ordinary("c")
    assert list(memoryview(offsets).cast("Q")) == [0, len(enc.encode_ordinary("ab")), len(ids) // 4]
    assert out[0][4]("ab") == list(memoryview(out[0][5]("ab")).cast("I")) == enc.encode("ab")
    assert out[0][6]("a<|end|>") == list(memoryview(out[0][7]("a<|end|>")).cast("I"))
    assert out[0][6]("a<|end|>") == enc.encode("a<|end|>", allowed_special="all")
    assert out[0][8]([65, 66]) == enc.decode_bytes([65, 66])


@needs_builtin
def test_builtin_errors_have_the_cffi_classes():
    """An encode error (here fancy-regex's backtracking limit, on a pattern of the
    caller's) is raised with the same class on both routes, a ValueError as tiktoken's."""
    ranks = {bytes([b]): b for b in range(256)}
    enc = bpekit.Encoding("bt", pat_str=r"(?:a+)+(?=c)|.", mergeable_ranks=ranks, special_tokens={})
    cffi = on_route(enc, "cffi")
    raised = []
    for e in (enc, cffi):
        with pytest.raises(bpekit.TokenizerError) as info:
            e.encode_ordinary("a" * 40 + "b")
        raised.append((type(info.value), info.value.code))
    assert raised[0] == raised[1]
    assert issubclass(raised[0][0], ValueError)


@needs_builtin
def test_builtin_leaves_long_strs_as_they_were(enc):
    """A long non-ASCII str (64K characters or more) is read in place (or through a
    temporary copy), so it does not keep a UTF-8 copy of itself afterwards (CPython's
    cache, which tiktoken's reading fills for every str)."""
    for text in ["你好世界" * 16384, "héllo " * 11000, "x" * 70000]:
        size = sys.getsizeof(text)
        assert enc.encode_ordinary(text) == on_route(enc, "cffi").encode_ordinary(text)
        assert sys.getsizeof(text) == size


# Long strs (64K characters or more) of each width CPython stores (ASCII, Latin-1, the
# BMP, any character), with the other widths' characters at block edges and in runs.
LONG_STRS = {
    "ascii": "the lazy dog, 42 times.\n" * 3000,
    "latin1": "".join(chr((i * 7919) % 256) for i in range(70_001)),
    "bmp": ("héllo wörld 你好世界 € — x" * 3000) + "\uffff",
    "astral": ("a🙂b 𝔘 ñ 你 " * 7000) + "\U0010ffff",
}


@needs_builtin
@pytest.mark.parametrize("kind", LONG_STRS)
def test_long_strs_read_in_place_give_the_cffi_ids(enc, kind):
    """A long str is read where CPython keeps its characters and converted by the library
    (StrLayout in capi/host/python.rs): every builtin gives the cffi route's ids, for the
    str and for a subclass's (whose characters lie elsewhere: the C API's copy); a lone
    surrogate is refused as CPython's UTF-8 codec refuses it, which the methods fix up
    as tiktoken does."""
    np = pytest.importorskip("numpy")
    cffi = on_route(enc, "cffi")
    text = LONG_STRS[kind]
    assert len(text) >= 1 << 16
    want = cffi.encode_ordinary(text)
    assert enc._fast(text) == want
    for t in (Str(text), text[1:], text[:-1]):
        assert enc._fast(t) == cffi.encode_ordinary(t)
        assert np.frombuffer(enc._fast_u32(t), dtype=np.uint32).tolist() == cffi.encode_ordinary(t)
    assert enc._fast_batch(([text, "x", text[:-1]], 2)) == [want, cffi.encode_ordinary("x"), cffi.encode_ordinary(text[:-1])]
    flat, offsets = enc._fast_batch_u32(([text, text], 1))
    assert np.frombuffer(flat, dtype=np.uint32).tolist() == want + want
    for odd in (text + "\ud800", "\udfff" + text, text[:40_000] + "\ud83d\ude42" + text[40_000:]):
        with pytest.raises(UnicodeEncodeError):
            enc._fast(odd)
        with pytest.raises(UnicodeEncodeError):
            enc._fast_batch(([odd], 1))
        assert enc.encode_ordinary(odd) == cffi.encode_ordinary(odd)


@needs_builtin
def test_long_non_ascii_strs_are_not_copied_by_cpython(enc):
    """The builtin reads a long non-ASCII str's characters itself, not through a bytes
    copy that CPython makes (`PyUnicode_AsUTF8String`), which tracemalloc would see at
    its full UTF-8 size: this fails if the probe of the str layout found none on a CPython
    whose builtin is used (then the builtins are exact but slower)."""
    for kind in ("latin1", "bmp", "astral"):
        text = LONG_STRS[kind] * 4
        utf8 = len(text.encode())
        enc._fast_u32(text)  # warm
        tracemalloc.start()
        try:
            out = enc._fast_u32(text)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak - len(out) < utf8 // 4, (kind, peak, len(out), utf8)


@needs_builtin
def test_builtin_maker_refuses_a_call_without_the_gil(enc):
    """Through cffi, which releases the GIL, the maker refuses before touching anything."""
    ffi, lib = _lowlevel.ffi, _lowlevel.lib
    api = _lowlevel.make_builtin.api  # type: ignore[attr-defined]
    junk = ffi.cast("void *", 8)  # never dereferenced
    err = ffi.new("bpekit_error **")
    status = getattr(lib, _lowlevel.PYTHON_ENCODER)(api, enc._raw, junk, junk, junk, err)
    assert status == lib.BPEKIT_ERR_INVALID_ARG
    assert "GIL" in ffi.string(lib.bpekit_error_message(err[0])).decode()
    lib.bpekit_error_free(err[0])


def test_import_does_not_depend_on_sysconfig_data():
    """bpekit imports where sysconfig's data module is missing (cross builds, stripped
    installs): the builtin's checks need none of it."""
    import os
    import subprocess

    env = dict(os.environ, _PYTHON_SYSCONFIGDATA_NAME="_sysconfigdata_missing")
    code = "import bpekit; e = bpekit.train(['ab ab'] * 3, 257); print(e.encode_ordinary('ab'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
