"""Turn what a member typed into an answer, or say kindly why it cannot be used.

Why: members type on phones, in Chinese and English input methods, so the same answer arrives
as "36.5", "36.5度", "36,5" or "３６.５". Every parser here takes the raw text and returns a
JSON-safe value, or raises `InvalidAnswer(catalog_key, **params)`; the engine then re-prompts
with that catalog text and leaves the conversation where it was.

Text hygiene, decided once for every free-text answer (`clean_text`):
* full-width letters, digits and the ideographic space are folded to ASCII (Chinese
  punctuation is kept: it is meaningful in addresses and remarks);
* invisible format characters (category Cf: zero-width joiners, bidi overrides) are removed —
  this also splits emoji sequences into their visible parts, which is harmless;
* other control characters (category Cc, e.g. NUL, ESC) make the answer invalid: they never
  come from a keyboard, and silently dropping them could change what was meant; tabs and line
  breaks become spaces;
* length is capped per question (`max_len` characters) and the answer is rejected, not cut.
Choice answers must contain a letter or digit: an emoji alone is rejected with its own hint.

Names, addresses and countries (`person_name`, `address`, `country`) end up in rosters,
exports and 代报 look-ups, so they are held to more (`_words`):
* look-alike letters and digits are folded to the plain ones by NFKC, character by character
  ("𝐙𝐡𝐚𝐧𝐠" → "Zhang", full-width "ＡＢ" → "AB", half-width katakana → katakana), while
  punctuation is kept as typed (a Chinese "，" stays one);
* emoji, pictographs and other symbols are refused with a hint naming the first one: the
  Unicode symbol categories (math, currency, modifier — skin tones —, other — every emoji,
  flag, circled letter, ☎ ★ ™), enclosing marks (keycaps), the emoji presentation selector
  U+FE0F, and unassigned code points (emoji newer than this Python's Unicode tables; an
  unassigned code point in the ideograph planes 2–3 is taken as a new CJK ideograph).
  Letters of every script, combining marks, punctuation (· • - ' ’ , 、 #) and spaces stay;
  private-use characters stay too (rare ideographs in names are still typed with them).
  A few symbols that real names or addresses contain are allowed per parser
  (`_NAME_SYMBOLS`, `_ADDRESS_SYMBOLS`).
A student/staff ID (`staff_no`) is letters and digits only: one typed with spaces or dashes
("2021 0001", "2021-0001") is refused with the expected form rather than silently joined, as
what is stored must be what the member's ID is; full-width digits still fold (NFKC).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Protocol

from bot import catalog

if TYPE_CHECKING:
    from bot.conversation.forms import Option

__all__ = [
    "ADDRESS_MIN_WEIGHT",
    "SKIP_WORDS",
    "InvalidAnswer",
    "Parser",
    "address",
    "clean_text",
    "country",
    "example_day",
    "first_symbol",
    "free_text",
    "match_option",
    "mobile",
    "normalize",
    "normalize_word",
    "optional_text",
    "parse_choices",
    "person_name",
    "recent_date",
    "staff_no",
    "temperature",
]


class InvalidAnswer(ValueError):
    """An answer that cannot be used; `key` names the catalog text that explains why."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class ParseEnv(Protocol):
    """What parsers may know about the moment (the engine's Context satisfies it)."""

    @property
    def today(self) -> date: ...


Parser = Callable[[str, ParseEnv], Any]

TEMPERATURE_LOW = 35.0
TEMPERATURE_HIGH = 42.0

SKIP_WORDS = frozenset({"无", "没有", "没", "none", "no", "nothing", "skip", "跳过", "n/a", "na",
                        "-", "—", "/"})

_CHINA = frozenset({"中国", "中华人民共和国", "中国大陆", "china", "prc", "mainland china",
                    "people's republic of china"})

# ---- text hygiene ----------------------------------------------------------------------------

_FULLWIDTH_ALNUM = {
    **{cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)},  # ０-９
    **{cp: cp - 0xFEE0 for cp in range(0xFF21, 0xFF3B)},  # Ａ-Ｚ
    **{cp: cp - 0xFEE0 for cp in range(0xFF41, 0xFF5B)},  # ａ-ｚ
    0x3000: 0x20,  # ideographic space
}
_LINE_BREAKS = {"\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85"}


def _check_controls(raw: str) -> str:
    """Drop format characters, turn line breaks into spaces, refuse other control characters."""
    kept: list[str] = []
    for ch in raw:
        if ch in _LINE_BREAKS or ch in "\u2028\u2029":
            kept.append(" ")
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            raise InvalidAnswer("err.control_chars")
        if category == "Cf":
            continue
        kept.append(ch)
    return "".join(kept)


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def normalize(raw: str) -> str:
    """For parsing structured answers: NFKC (full-width → ASCII), no controls, single spaces."""
    return _collapse(unicodedata.normalize("NFKC", _check_controls(raw)))


def clean_text(raw: str, *, max_len: int) -> str:
    """For free text: fold full-width letters/digits, refuse controls, cap the length."""
    text = _collapse(_check_controls(raw).translate(_FULLWIDTH_ALNUM))
    if not text:
        raise InvalidAnswer("err.empty")
    if len(text) > max_len:
        raise InvalidAnswer("err.too_long", max=max_len)
    return text


#: Symbol categories no name, address or country contains (see the module docstring).
_SYMBOL_CATEGORIES = frozenset({"Sm", "Sc", "Sk", "So", "Me", "Cs", "Cn"})
#: Variation selectors that make the character before them an emoji or a text glyph.
_PRESENTATION_SELECTORS = frozenset("\ufe0e\ufe0f")
#: Symbols names do contain: a backtick or acute accent typed as an apostrophe ("O`Brien"),
#: and the middle dots some input methods type as a math operator ("阿依古丽∙买买提").
_NAME_SYMBOLS = frozenset("`´∙⋅")
#: Symbols addresses do contain: ranges ("1～3号楼"), plus codes, №, Japan's postal mark 〒.
_ADDRESS_SYMBOLS = frozenset("~～+＋№〒°")
#: Letters NFKC would change although they are not look-alikes: compatibility ideographs
#: (a name's chosen form) and Hangul compatibility jamo (NFKC makes them conjoining jamo).
_KEEP_AS_TYPED = ((0xF900, 0xFAFF), (0x2F800, 0x2FA1F), (0x3130, 0x318F))


def _category(ch: str) -> str:
    """The Unicode category, with unassigned code points in planes 2–3 (the ideograph planes)
    read as letters: CJK ideographs newer than this Python's tables, not emoji."""
    category = unicodedata.category(ch)
    if category == "Cn" and 0x20000 <= ord(ch) <= 0x3FFFF:
        return "Lo"
    return category


def _fold_lookalikes(text: str) -> str:
    """NFKC for letters and digits only: look-alike forms (full-width, mathematical, half-width
    katakana, ligatures) become the plain ones; punctuation and compatibility ideographs stay."""
    out: list[str] = []
    for ch in text:
        if (_category(ch)[0] == "L" or _category(ch) in ("Nd", "Nl")) and not any(
                low <= ord(ch) <= high for low, high in _KEEP_AS_TYPED):
            out.append(unicodedata.normalize("NFKC", ch))
        else:
            out.append(ch)
    return "".join(out)


def _refused_symbol(ch: str, allowed: frozenset[str]) -> bool:
    if ch in allowed:
        return False
    return ch in _PRESENTATION_SELECTORS or _category(ch) in _SYMBOL_CATEGORIES


def first_symbol(text: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """The first run of emoji or symbols in `text` (a flag or a skin-toned emoji whole, at most
    8 characters) that `allowed` does not permit, or None when there is none."""
    for start, ch in enumerate(text):
        if _refused_symbol(ch, allowed):
            if ch in _PRESENTATION_SELECTORS and start:
                start -= 1  # "ℹ️": show the character the selector makes an emoji
            end = start + 1
            while end < len(text) and end - start < 8 and _refused_symbol(text[end], allowed):
                end += 1
            return text[start:end]
    return None


def _words(raw: str, *, max_len: int, allowed: frozenset[str], symbols_key: str) -> str:
    """Free text that names something (a person, an address, a country): cleaned, look-alike
    letters folded, and refused with `symbols_key` when it holds emoji or symbols."""
    text = clean_text(raw, max_len=max_len)
    symbol = first_symbol(text, allowed)  # before folding: show what was typed
    if symbol is not None:
        raise InvalidAnswer(symbols_key, symbol=symbol)
    text = _fold_lookalikes(text)
    if len(text) > max_len:  # a ligature or a look-alike may fold to more than one letter
        raise InvalidAnswer("err.too_long", max=max_len)
    return text


def _has_word_char(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def _count_letters(text: str) -> int:
    return sum(1 for ch in text if _category(ch)[0] == "L")


# ---- free-text parsers -------------------------------------------------------------------------


def free_text(max_len: int = 200) -> Parser:
    """Any non-empty text up to `max_len` characters (emoji allowed)."""

    def parse(raw: str, env: ParseEnv) -> str:
        return clean_text(raw, max_len=max_len)

    return parse


def optional_text(max_len: int = 200) -> Parser:
    """Like free_text, but "无 / none / 跳过 / skip" (or nothing) means an empty answer."""

    def parse(raw: str, env: ParseEnv) -> str:
        word = normalize(raw).casefold().rstrip("。.!！")
        if not word or word in SKIP_WORDS:
            return ""
        return clean_text(raw, max_len=max_len)

    return parse


def person_name(raw: str, env: ParseEnv) -> str:
    """A name in any script, 1–40 characters, no digits, no emoji or symbols ("张三",
    "阿依古丽·买买提", "O'Brien")."""
    name = _words(raw, max_len=40, allowed=_NAME_SYMBOLS, symbols_key="err.name_symbols")
    if any(unicodedata.category(ch) == "Nd" for ch in name) or not _count_letters(name):
        raise InvalidAnswer("err.name")
    return name


#: What separates groups of an ID when people type it: spaces and every kind of dash.
_ID_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−﹣_]+")


def staff_no(raw: str, env: ParseEnv) -> str:
    """A student/staff ID: 3–20 ASCII letters and digits (full-width ones fold); one typed with
    spaces or dashes is refused with the joined form as the example, never joined silently."""
    value = normalize(raw)
    if not value:
        raise InvalidAnswer("err.empty")
    if re.fullmatch(r"[A-Za-z0-9]{3,20}", value):
        return value
    joined = _ID_SEPARATORS.sub("", value)
    if joined != value and re.fullmatch(r"[A-Za-z0-9]{3,20}", joined):
        raise InvalidAnswer("err.staff_no_separators", staff_no=joined)
    raise InvalidAnswer("err.staff_no")


#: How much an address must say: a CJK character counts 2, any other letter 1 (digits 0), so
#: "北京海淀" or "Haidian, Beijing" is enough, "ab", "1" or "海淀" is not (the prompts ask for
#: province, city and district; "abroad: the country and city" for a hukou address).
ADDRESS_MIN_WEIGHT = 8


def _address_weight(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text if _category(ch)[0] == "L")


def address(raw: str, env: ParseEnv) -> str:
    """An address in words (at least 4 CJK characters or 8 other letters), up to 100
    characters, no emoji: the current address (unverified) and the hukou address."""
    text = _words(raw, max_len=100, allowed=_ADDRESS_SYMBOLS,
                  symbols_key="err.address_symbols")
    if _address_weight(text) < ADDRESS_MIN_WEIGHT:
        raise InvalidAnswer("err.address")
    return text


def country(raw: str, env: ParseEnv) -> str:
    """A country or region other than China, by name (no digits, no emoji or flags)."""
    text = _words(raw, max_len=40, allowed=_NAME_SYMBOLS, symbols_key="err.country_symbols")
    if normalize_word(text) in SKIP_WORDS:  # "无" is not a country
        raise InvalidAnswer("err.country")
    if normalize(text).casefold() in _CHINA:
        raise InvalidAnswer("err.country_is_china")
    if not _count_letters(text) or any(unicodedata.category(ch) == "Nd" for ch in text):
        raise InvalidAnswer("err.country")
    return text


# ---- numbers, phones, dates ---------------------------------------------------------------------

_TEMPERATURE_UNITS = ("摄氏度", "°c", "度", "°", "c")


def temperature(raw: str, env: ParseEnv) -> float:
    """Body temperature in °C, 35.0–42.0, one decimal: "36.5", "36.5度", "36,5", "３６.５"."""
    text = normalize(raw).casefold().replace(" ", "")
    if not text:
        raise InvalidAnswer("err.empty")
    for unit in _TEMPERATURE_UNITS:
        if text.endswith(unit):
            text = text[: -len(unit)]
            break
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    text = text.replace("。", ".")
    if not re.fullmatch(r"\d{2,3}(\.\d{1,2})?", text):
        raise InvalidAnswer("err.temperature_format")
    # Half-up to one decimal, as people round a thermometer reading (float round() gives
    # 36.55 → 36.5).
    value = float(Decimal(text).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    if 93.0 <= value <= 108.0:
        raise InvalidAnswer("err.temperature_fahrenheit", value=text)
    if not TEMPERATURE_LOW <= value <= TEMPERATURE_HIGH:
        raise InvalidAnswer("err.temperature_range", low=TEMPERATURE_LOW, high=TEMPERATURE_HIGH)
    return value


def mobile(raw: str, env: ParseEnv) -> str:
    """A mobile number: mainland China as 11 digits, any other country in E.164 form.

    Mainland numbers accept +86/0086/86, spaces, dashes and brackets and are stored as 11
    digits ("13812345678"). Other numbers must start with "+" (or "00") and the country code,
    8–15 digits in all (E.164), spaces and dashes allowed; they are stored as "+34612345678".
    International students have no mainland number at first, and the roster has their unit.
    """
    digits = re.sub(r"[\s\-()（）.]", "", normalize(raw))
    if not digits:
        raise InvalidAnswer("err.empty")
    international = None
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
            break
    else:
        if digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        elif digits.startswith("+"):
            international = digits[1:]
        elif digits.startswith("00"):
            international = digits[2:]
    if international is not None:
        if not re.fullmatch(r"[1-9]\d{7,14}", international):
            raise InvalidAnswer("err.mobile")
        return "+" + international
    if not re.fullmatch(r"1[3-9]\d{9}", digits):
        raise InvalidAnswer("err.mobile")
    return digits


_RELATIVE_DAYS = {"今天": 0, "今日": 0, "today": 0, "昨天": 1, "昨日": 1, "yesterday": 1,
                  "前天": 2}
_FULL_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")
_SHORT_DATE = re.compile(r"(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")


def read_date(text: str, today: date) -> date:
    """A day as the forms' date questions take it: 2026-11-29, 2026年11月29日, 11-29, 11/29,
    11月29日 (in the year that puts it nearest today: last December early in January, next
    January late in December), 今天/昨天/前天, today/yesterday.
    `text` is normalised and case-folded. InvalidAnswer("err.date_format") otherwise."""
    return _read_date(text, today)


def example_day(today: date) -> str:
    """A month-day date example that every past-date question accepts on `today` ("11-30"):
    a fixed example (such as 2022-03-05) would soon be refused as too old."""
    example = today - timedelta(days=3)
    return f"{example.month}-{example.day}"


def _read_date(text: str, today: date) -> date:
    if text in _RELATIVE_DAYS:
        return today - timedelta(days=_RELATIVE_DAYS[text])
    try:
        if match := _FULL_DATE.fullmatch(text):
            year, month, day = (int(g) for g in match.groups())
            return date(year, month, day)
        if match := _SHORT_DATE.fullmatch(text):
            month, day = (int(g) for g in match.groups())
            candidate = date(today.year, month, day)
            # The year that puts the day nearest today: "12-30" typed on 2 January is last
            # December, "1-5" typed in December (a 免报 to next week) is next January.
            if (candidate - today).days > 183:
                candidate = date(today.year - 1, month, day)
            elif (today - candidate).days > 183:
                candidate = date(today.year + 1, month, day)
            return candidate
    except ValueError as exc:
        raise InvalidAnswer("err.date_format", example_day=example_day(today)) from exc
    raise InvalidAnswer("err.date_format", example_day=example_day(today))


def recent_date(max_days_back: int = 60) -> Parser:
    """A past date, at most `max_days_back` days ago, as ISO "YYYY-MM-DD"."""

    def parse(raw: str, env: ParseEnv) -> str:
        text = normalize(raw).casefold()
        if not text:
            raise InvalidAnswer("err.empty")
        today = env.today
        value = _read_date(text, today)
        if value > today:
            raise InvalidAnswer("err.date_future", today=today.isoformat())
        earliest = today - timedelta(days=max_days_back)
        if value < earliest:
            raise InvalidAnswer("err.date_too_old", earliest=earliest.isoformat(),
                                days=max_days_back)
        return value.isoformat()

    return parse


# ---- choices --------------------------------------------------------------------------------


def _match_words(option: Option) -> set[str]:
    zh, en = catalog.templates(option.label)
    return {w.casefold() for w in (option.id, zh, en, *option.aliases)}


def match_option(options: Sequence[Option], token: str, *, numbered: bool = True
                 ) -> Option | None:
    """The option a token names: its number (1-based), id, zh or en label, or an alias."""
    word = unicodedata.normalize("NFKC", token).strip().casefold().rstrip(".、)")
    if not word:
        return None
    if numbered and word.isdigit() and word.isascii():
        index = int(word) - 1
        return options[index] if 0 <= index < len(options) else None
    for option in options:
        if word in _match_words(option):
            return option
    return None


_SEPARATORS = re.compile(r"[,，、;；/|]+|\s+(?:and|和)\s+")


def _split_digits(word: str, count: int) -> list[str] | None:
    """"23" → ["2", "3"] when options are single-digit, 23 is not an option number and every
    digit is one (so "13" with two options, or "2019011234", names no option)."""
    if (word.isdigit() and word.isascii() and len(word) > 1 and count <= 9 and int(word) > count
            and all(1 <= int(d) <= count for d in word)):
        return list(word)
    return None


def _tokens(options: Sequence[Option], text: str) -> list[Option]:
    chosen: list[Option] = []
    for part in filter(None, (p.strip() for p in _SEPARATORS.split(text))):
        if option := match_option(options, part):
            chosen.append(option)
            continue
        words = part.split()
        i = 0
        while i < len(words):
            for j in range(len(words), i, -1):  # longest span first: "sore throat"
                option = match_option(options, " ".join(words[i:j]))
                if option is not None:
                    chosen.append(option)
                    i = j
                    break
            else:
                digits = _split_digits(words[i], len(options))
                if digits is None:
                    raise _no_such_option(words[i], len(options))
                chosen.extend(match_option(options, d) for d in digits)  # type: ignore[misc]
                i += 1
    return chosen


def _no_such_option(word: str, count: int) -> InvalidAnswer:
    """A number that is not an option says which numbers are; other words "not understood"."""
    folded = unicodedata.normalize("NFKC", word).strip()
    if folded.isdigit() and folded.isascii():
        return InvalidAnswer("err.choice_range", count=count)
    return InvalidAnswer("err.choice")


def normalize_word(raw: str) -> str:
    """A short reply as a word: NFKC, trimmed, casefolded, final punctuation dropped."""
    return unicodedata.normalize("NFKC", raw).strip().casefold().rstrip("。.!！")


def check_choices(options: Sequence[Option], chosen: Sequence[Option], *, multi: bool
                  ) -> tuple[Option, ...]:
    """Order as declared, drop repeats, enforce single choice and exclusive options."""
    picked = tuple(o for o in options if any(o.id == c.id for c in chosen))
    if not picked:
        raise InvalidAnswer("err.choice")
    if not multi and len(picked) > 1:
        raise InvalidAnswer("err.choice_single")
    if len(picked) > 1:
        for option in picked:
            if option.exclusive:
                raise InvalidAnswer("err.exclusive", option=catalog.halves(option.label))
    return picked


def parse_choices(options: Sequence[Option], raw: str, *, multi: bool) -> tuple[Option, ...]:
    """What a typed reply chooses among `options` ("2 3", "发热，咳嗽", "fever, sore throat")."""
    text = normalize(raw)
    if not text:
        raise InvalidAnswer("err.empty")
    if not _has_word_char(text):
        symbols = any(unicodedata.category(ch) in ("So", "Sk", "Cs") for ch in text)
        raise InvalidAnswer("err.choice_emoji" if symbols else "err.choice")
    whole = match_option(options, text)
    if whole is None and text.isdigit() and text.isascii() and _split_digits(
            text, len(options)) is None:
        raise _no_such_option(text, len(options))
    chosen = [whole] if whole is not None else _tokens(options, text)
    return check_choices(options, chosen, multi=multi)
