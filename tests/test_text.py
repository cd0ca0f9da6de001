"""WeCom's byte limits: cutting never splits a character, packing keeps every piece whole unless
it alone is too long, pages are numbered and nothing is lost or reordered."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot import text

# Mixed widths: ASCII (1 byte), CJK (3 bytes), emoji (4 bytes).
chars = st.sampled_from("ab1 、中文字体😀")
strings = st.text(alphabet=chars, max_size=60)


@given(strings, st.integers(min_value=0, max_value=80))
def test_cut_is_the_longest_prefix_within_the_limit(s: str, limit: int) -> None:
    head = text.cut(s, limit)
    assert s.startswith(head) and text.byte_len(head) <= limit
    if head != s:  # one more character would not fit
        assert text.byte_len(s[:len(head) + 1]) > limit


@given(strings, st.integers(min_value=4, max_value=80))
def test_fit_keeps_short_text_and_marks_a_cut(s: str, limit: int) -> None:
    fitted = text.fit(s, limit)
    assert text.byte_len(fitted) <= limit
    if text.byte_len(s) <= limit:
        assert fitted == s
    else:
        assert fitted.endswith(text.ELLIPSIS) and s.startswith(fitted[:-1].rstrip())


@given(st.lists(strings.filter(bool), max_size=12), st.integers(min_value=4, max_value=50),
       st.sampled_from(["\n", "、", "\n\n"]))
def test_pack_loses_nothing_and_respects_the_limit(pieces: list[str], limit: int,
                                                   sep: str) -> None:
    chunks = text.pack(pieces, limit=limit, sep=sep)
    assert all(text.byte_len(c) <= limit for c in chunks)
    # Whole pieces stay whole: removing the separators gives back exactly the input.
    assert "".join(c.replace(sep, "") for c in chunks) == "".join(p.replace(sep, "")
                                                                  for p in pieces)
    # A piece that fits is never split across two chunks.
    for piece in pieces:
        if text.byte_len(piece) <= limit and sep not in piece:
            assert any(piece in c.split(sep) for c in chunks)


def test_pack_fills_chunks_before_starting_a_new_one() -> None:
    assert text.pack(["aa", "bb", "cc"], limit=5) == ["aa\nbb", "cc"]
    assert text.pack(["张三", "李四"], limit=9, sep="、") == ["张三", "李四"]
    assert text.pack(["张三", "李四"], limit=15, sep="、") == ["张三、李四"]
    assert text.pack([], limit=5) == []


def test_pages_are_numbered_only_when_there_are_several() -> None:
    assert text.number_pages(["one"]) == ["one"]
    assert text.number_pages(["a", "b"]) == ["a\n(1/2)", "b\n(2/2)"]
    pages = text.paginate([f"第{i}行 line {i}" for i in range(400)])
    assert len(pages) > 1 and pages[-1].endswith(f"({len(pages)}/{len(pages)})")
    assert all(text.byte_len(p) <= text.TEXT_LIMIT_BYTES for p in pages)
