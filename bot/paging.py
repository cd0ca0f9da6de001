"""Split long texts into WeCom-sized messages (text content is capped at 2048 UTF-8 bytes)."""

from __future__ import annotations

from collections.abc import Iterable

TEXT_LIMIT_BYTES = 2048
# Room for a "(2/3)" page marker and a safety margin.
PAGE_BYTES = 1900


def byte_len(text: str) -> int:
    return len(text.encode("utf-8"))


def paginate(lines: Iterable[str], *, limit: int = PAGE_BYTES) -> list[str]:
    """Pack whole lines into pages of at most `limit` bytes, cutting only an oversize line."""
    pages: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        while byte_len(line) > limit:
            head = line.encode("utf-8")[:limit].decode("utf-8", "ignore")
            line = line[len(head):]
            if current:
                pages.append("\n".join(current))
                current, size = [], 0
            pages.append(head)
        extra = byte_len(line) + (1 if current else 0)
        if current and size + extra > limit:
            pages.append("\n".join(current))
            current, size = [], 0
            extra = byte_len(line)
        current.append(line)
        size += extra
    if current:
        pages.append("\n".join(current))
    if len(pages) > 1:
        pages = [f"{page}\n({i}/{len(pages)})" for i, page in enumerate(pages, start=1)]
    return pages
