"""The text commands of the operations contract, in one table.

Menu click EventKeys use the English word, so a menu click and a typed command share a path.
Commands the form engine owns (取消/cancel, 上一步/back, 帮助/help inside a form) are not here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

COMMANDS: dict[str, tuple[str, ...]] = {
    "report": ("上报", "report", "填报", "每日上报", "打卡"),
    "info": ("信息", "info", "基础信息", "基本信息"),
    "status": ("状态", "status", "查询"),
    "help": ("帮助", "help", "?", "？", "菜单", "menu"),
    "cancel": ("取消", "cancel"),
    "text": ("文字", "text", "文字模式"),
    "cards": ("卡片", "cards", "card", "卡片模式"),
    "lang_en": ("english", "英文"),
    "lang_zh": ("中文", "chinese"),
    "resume": ("继续", "continue", "resume"),
    "restart": ("重新开始", "restart", "重填"),
    "stats": ("统计", "stats"),
    "proxy": ("代报", "proxy", "代填报", "代填"),
    "ack": ("确认", "ack"),
}

_LOOKUP = {word: name for name, words in COMMANDS.items() for word in words}
# Commands that take one argument: "代报 20210001" / "proxy 20210001".
_WITH_ARGUMENT = {"proxy", "ack"}
# Commands that mean nothing without their argument; alone, the word is an ordinary answer
# ("确认" alone confirms a form's summary).
_ARGUMENT_REQUIRED = {"ack"}


@dataclass(frozen=True)
class Command:
    name: str
    argument: str = ""


def normalise(text: str) -> str:
    """Full-width to half-width, trimmed, lower-cased, inner whitespace collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


def parse_command(text: str) -> Command | None:
    words = normalise(text)
    if not words:
        return None
    if words in _LOOKUP:
        if _LOOKUP[words] in _ARGUMENT_REQUIRED:
            return None
        return Command(_LOOKUP[words])
    head, _, rest = words.partition(" ")
    if _LOOKUP.get(head) in _WITH_ARGUMENT:
        return Command(_LOOKUP[head], rest.strip())
    # "代报20210001" without a space
    for word, name in _LOOKUP.items():
        if name in _WITH_ARGUMENT and words.startswith(word) and len(words) > len(word):
            return Command(name, words[len(word):].strip())
    return None
