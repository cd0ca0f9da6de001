"""WeCom's text limits, cutting UTF-8 text at a character boundary, and paging long texts.

WeCom caps a text message's content at 2048 UTF-8 bytes (protocol doc §4) and truncates beyond
it. Everything that measures, cuts or pages text for WeCom uses this module.
"""

from __future__ import annotations

from collections.abc import Iterable

TEXT_LIMIT_BYTES = 2048
# A page leaves room for its "(2/3)" marker and a safety margin.
PAGE_BYTES = 1900
ELLIPSIS = "…"


def byte_len(text: str) -> int:
    """The size WeCom counts: UTF-8 bytes."""
    return len(text.encode("utf-8"))


def cut(text: str, limit: int) -> str:
    """The longest start of `text` within `limit` UTF-8 bytes, never splitting a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def fit(text: str, limit: int = TEXT_LIMIT_BYTES) -> str:
    """`text` unchanged when it fits in `limit` bytes, else cut and ending in "…"."""
    if byte_len(text) <= limit:
        return text
    return cut(text, limit - byte_len(ELLIPSIS)).rstrip() + ELLIPSIS


def pack(pieces: Iterable[str], *, limit: int, sep: str = "\n") -> list[str]:
    """Whole pieces joined by `sep` into chunks of at most `limit` bytes; only a piece that
    alone exceeds `limit` is cut (into chunks of its own)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    sep_bytes = byte_len(sep)
    for piece in pieces:
        while byte_len(piece) > limit:
            head = cut(piece, limit)
            piece = piece[len(head):]
            if current:
                chunks.append(sep.join(current))
                current, size = [], 0
            chunks.append(head)
        extra = byte_len(piece) + (sep_bytes if current else 0)
        if current and size + extra > limit:
            chunks.append(sep.join(current))
            current, size = [], 0
            extra = byte_len(piece)
        current.append(piece)
        size += extra
    if current:
        chunks.append(sep.join(current))
    return chunks


def number_pages(pages: list[str]) -> list[str]:
    """Several pages each end in "(i/n)"; a single page is left alone."""
    if len(pages) < 2:
        return pages
    return [f"{page}\n({i}/{len(pages)})" for i, page in enumerate(pages, start=1)]


def paginate(lines: Iterable[str], *, limit: int = PAGE_BYTES) -> list[str]:
    """Whole lines packed into numbered pages of at most `limit` bytes (plus the marker)."""
    return number_pages(pack(lines, limit=limit))
