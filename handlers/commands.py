"""Recognising the text commands of the operations contract.

The words themselves live in the catalog (`catalog.COMMANDS`, one table for the engine and the
handlers); this module adds what only handlers need: commands that carry an argument
(`代报 20210001`, `确认 12`). Menu click EventKeys use the English word, so a menu click and a
typed command share a path.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot import catalog

# Commands that take one argument: "代报 20210001" / "proxy 20210001" / "确认 12".
_WITH_ARGUMENT = {"proxy", "ack", "late", "exempt", "read"}
# Commands that mean nothing without their argument; alone, the word is an ordinary answer
# ("确认" alone confirms a prefilled name).
_ARGUMENT_REQUIRED = {"ack"}


@dataclass(frozen=True)
class Command:
    name: str
    argument: str = ""


def parse_command(text: str) -> Command | None:
    name = catalog.command_of(text)
    if name is not None:
        return None if name in _ARGUMENT_REQUIRED else Command(name)
    words = catalog.command_key(text)
    typed = _as_typed(text, words)
    head, _, rest = words.partition(" ")
    name = catalog.command_of(head)
    if name in _WITH_ARGUMENT and rest.strip():
        return Command(name, typed[len(head) + 1:].strip())
    for word in (w for n in _WITH_ARGUMENT for w in catalog.COMMANDS[n]):
        # "代报20210001", without a space
        key = catalog.command_key(word)
        if words.startswith(key) and len(words) > len(key) and not key.isascii():
            return Command(catalog.command_of(word) or "", typed[len(key):].strip())
    return None


def _as_typed(text: str, words: str) -> str:
    """`words` (the command key of `text`) in the case it was typed, so that an argument is
    echoed as typed ("Zhang San", not "zhang san"); `words` itself where case folding changed
    the length (ß → ss)."""
    typed = unicodedata.normalize("NFKC", text).strip().lstrip("/")[:len(words)]
    return typed if typed.casefold() == words else words
