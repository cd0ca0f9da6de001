"""Forms declared in TOML files: a small declarative language that builds the same `Form`
objects the engine walks, plus the abnormal rules that alert reviewers.

A file has one `[form]` table, `[[question]]` tables in order (each with `[[question.option]]`
and `[[question.advice]]`), and `[[abnormal]]` rules. Texts are catalog keys ("q.temperature")
or inline pairs (`{ zh = "健康码颜色", en = "Health code colour" }`), which are added to the
catalog under `formfile.<form>.<digest>.<path>` when the file is loaded (the digest of the
file's text, so that two versions of a form never overwrite each other's texts).

Conditions (`when`, advice, abnormal rules, the repeat offer) are tables:
    { answer = "quarantine", in = ["home"] }            answered, and the value is one of
    { answer = "quarantine", not_in = ["none"] }        answered, and the value is none of
    { answer = "symptoms", contains = ["other"] }       a multi answer holds any of
    { answer = "location.kind", in = ["abroad"] }       dotted paths read into dict answers
    { answered = "temperature" }                        the question has an answer
    { fever = "temperature" }                           at or above the fever threshold
    { city_changed = true }                             the city differs from the last report
    { yesterday = { ... } }                             the condition on yesterday's answers
    { all = [ ... ] }, { any = [ ... ] }, { not = { ... } }

`check_text` reports every problem with its line number: unknown keys, a condition on a later
or unknown question, an option referenced that the question does not have (or no longer has),
and texts too long for WeCom in either language and either rendering.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from typing import Any

from bot import catalog
from bot.conversation import render
from bot.conversation import validators as v
from bot.conversation.forms import (
    Advice,
    Condition,
    Form,
    Option,
    Question,
    QuestionKind,
    Repeat,
    no,
    yes,
)
from bot.text import TEXT_LIMIT_BYTES

__all__ = ["AbnormalRule", "FormFile", "FormFileError", "Problem", "check_text", "city_changed",
           "current_city", "load_text", "reason_labels", "shipped", "shipped_text"]

SHIPPED = ("basic_info", "daily_report", "daily_report_2022")

FORM_KEYS = {"id", "version", "title", "intro", "note", "daily", "repeat"}
REPEAT_KEYS = {"after", "fresh", "eligible"}
QUESTION_KEYS = {"key", "kind", "prompt", "label", "help", "when", "option", "advice", "unit",
                 "min", "max", "decimals", "max_length", "optional", "parser", "past_days",
                 "future_days", "prefill", "prefill_prompt", "params", "yes", "no"}
OPTION_KEYS = {"id", "label", "aliases", "exclusive", "value", "style"}
ADVICE_KEYS = {"when", "text"}
ABNORMAL_KEYS = {"reason", "when", "label"}
CONDITION_KEYS = {"answer", "in", "not_in", "contains", "answered", "fever", "city_changed",
                  "yesterday", "all", "any", "not"}
KINDS = {"text", "number", "single", "multi", "date", "location", "yes_no", "phone"}
PARSERS: dict[str, v.Parser] = {
    "temperature": v.temperature, "person_name": v.person_name, "staff_no": v.staff_no,
    "address": v.address, "country": v.country, "mobile": v.mobile,
}
# Prompt parameters a question may ask for by name (the engine passes them to the prompt).
PARAMS: dict[str, Callable[[Mapping[str, Any], Any], Mapping[str, Any]]] = {}


class FormFileError(ValueError):
    """A form file that cannot be used; `problems` say where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class AbnormalRule:
    reason: str
    when: Condition
    label: str  # catalog key


@dataclass(frozen=True)
class FormFile:
    form: Form
    abnormal: tuple[AbnormalRule, ...]
    text: str  # the TOML it was read from

    def abnormal_reasons(self, answers: Mapping[str, Any], ctx: Any) -> list[str]:
        return [rule.reason for rule in self.abnormal if rule.when(answers, ctx)]

    def reason_label(self, reason: str) -> str:
        return next((r.label for r in self.abnormal if r.reason == reason), f"reason.{reason}")


# ---- line numbers ----------------------------------------------------------------------------


class _Lines:
    """Where things are in the file: TOML parsers do not say, so we find table headers and
    `key =` lines in order (good enough to point an operator at the right place)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers: dict[str, list[int]] = {}
        for n, line in enumerate(self.lines, start=1):
            m = re.match(r"\s*\[\[?\s*([A-Za-z0-9_.]+)\s*\]\]?", line)
            if m:
                self.headers.setdefault(m.group(1), []).append(n)

    def header(self, name: str, index: int = 0) -> int:
        found = self.headers.get(name, [])
        return found[index] if index < len(found) else 1

    def key(self, name: str, start: int) -> int:
        """The line of `name =` at or after `start`, before the next table header."""
        for n in range(start, len(self.lines) + 1):
            line = self.lines[n - 1]
            if n > start and re.match(r"\s*\[", line):
                break
            if re.match(rf"\s*{re.escape(name)}\s*=", line):
                return n
        return start


# ---- building --------------------------------------------------------------------------------


@dataclass
class _Builder:
    form_id: str
    lines: _Lines
    digest: str = ""
    problems: list[Problem] = field(default_factory=list)
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(line, message))

    def unknown(self, table: Mapping[str, Any], allowed: set[str], where: str, line: int
                ) -> None:
        for key in table:
            if key not in allowed:
                self.problem(self.lines.key(key, line),
                             f"unknown key {key!r} in {where} (known: {', '.join(sorted(allowed))})")

    def text(self, value: Any, path: str, line: int, *, required: bool = True) -> str | None:
        """A catalog key, or an inline {zh, en} pair registered under a generated key."""
        if value is None:
            if required:
                self.problem(line, f"{path}: a text is required")
            return None
        if isinstance(value, str):
            if value not in catalog.CATALOG:
                self.problem(line, f"{path}: {value!r} is not a catalog key (write "
                                   "{ zh = \"…\", en = \"…\" } for a text of this form)")
                return None
            return value
        if isinstance(value, Mapping) and set(value) == {"zh", "en"} and all(
                isinstance(value[k], str) and value[k].strip() for k in ("zh", "en")):
            key = f"formfile.{self.form_id}.{self.digest}.{path}"
            self.texts[key] = (value["zh"], value["en"])
            return key
        self.problem(line, f"{path}: a text is a catalog key or {{ zh = \"…\", en = \"…\" }}")
        return None


def _get_path(answers: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    head, _, rest = path.partition(".")
    if head not in answers:
        return False, None
    value = answers[head]
    if rest:
        if not isinstance(value, Mapping) or rest not in value:
            return False, None
        value = value[rest]
    return True, value


def _condition(b: _Builder, spec: Any, where: str, line: int, known: list[str],
               refs: list[tuple[str, list[Any], int]]) -> Condition | None:
    """Build a Condition; `known` = the questions it may read; `refs` collects (question,
    values, line) for the option check."""
    if not isinstance(spec, Mapping) or not spec:
        b.problem(line, f"{where}: a condition is a table, e.g. {{ answer = \"x\", in = [..] }}")
        return None
    b.unknown(spec, CONDITION_KEYS, where, line)

    def reads(key: str) -> bool:
        question = key.partition(".")[0]
        if question not in known:
            b.problem(line, f"{where}: the condition reads {question!r}, which is not an "
                            "earlier question")
            return False
        return True

    if "all" in spec or "any" in spec:
        name = "all" if "all" in spec else "any"
        parts = [_condition(b, s, where, line, known, refs) for s in spec[name] or ()]
        if not parts or any(p is None for p in parts):
            return None
        ok = [p for p in parts if p is not None]
        combine = all if name == "all" else any
        return Condition(tuple(k for p in ok for k in p.depends_on),
                         lambda a, c: combine(p(a, c) for p in ok))
    if "not" in spec:
        inner = _condition(b, spec["not"], where, line, known, refs)
        return None if inner is None else Condition(inner.depends_on,
                                                    lambda a, c: not inner(a, c))
    if "yesterday" in spec:
        # Yesterday's answers: any question of the form may be read (they were all answered).
        inner = _condition(b, spec["yesterday"], where, line, list(_ALL), refs)
        return None if inner is None else Condition(
            (), lambda a, c: (y := getattr(c, "yesterday", None)) is not None and inner(y, c))
    if "fever" in spec:
        key = str(spec["fever"])
        if not reads(key):
            return None
        return Condition((key.partition(".")[0],), lambda a, c: (
            (got := _get_path(a, key))[0] and isinstance(got[1], int | float)
            and not isinstance(got[1], bool) and got[1] >= c.fever_threshold))
    if "city_changed" in spec:
        if "location" not in known:
            b.problem(line, f"{where}: city_changed needs an earlier location question")
            return None
        wanted = bool(spec["city_changed"])
        return Condition(("location",), lambda a, c: city_changed(a, c) == wanted)
    if "answered" in spec:
        key = str(spec["answered"])
        if not reads(key):
            return None
        return Condition((key.partition(".")[0],), lambda a, c: _get_path(a, key)[0] and
                         _get_path(a, key)[1] not in (None, "", []))
    if "answer" in spec:
        key = str(spec["answer"])
        tests = [t for t in ("in", "not_in", "contains") if t in spec]
        if len(tests) != 1:
            b.problem(line, f"{where}: `answer` needs exactly one of in, not_in, contains")
            return None
        values = spec[tests[0]]
        if not isinstance(values, list) or not values:
            b.problem(line, f"{where}: {tests[0]} needs a non-empty list")
            return None
        if not reads(key):
            return None
        if "." not in key:
            refs.append((key, values, line))
        depends = (key.partition(".")[0],)
        if tests[0] == "in":
            return Condition(depends, lambda a, c: (g := _get_path(a, key))[0] and g[1] in values)
        if tests[0] == "not_in":
            return Condition(depends,
                             lambda a, c: (g := _get_path(a, key))[0] and g[1] not in values)
        return Condition(depends, lambda a, c: any(x in (_get_path(a, key)[1] or ())
                                                   for x in values))
    b.problem(line, f"{where}: the condition says nothing to test")
    return None


# Every question key of the form being built (for `yesterday` conditions); set per build.
_ALL: list[str] = []


def _number_parser(low: float, high: float, decimals: int) -> v.Parser:
    def parse(raw: str, env: v.ParseEnv) -> float | int:
        text = v.normalize(raw).replace(",", ".").replace("。", ".").strip()
        if not re.fullmatch(r"-?\d{1,9}(\.\d+)?", text):
            raise v.InvalidAnswer("err.number_format")
        value = round(float(text), decimals)
        if not low <= value <= high:
            raise v.InvalidAnswer("err.number_range", low=_num(low), high=_num(high))
        return int(value) if decimals == 0 else value

    return parse


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _date_parser(past_days: int, future_days: int) -> v.Parser:
    if future_days == 0:
        return v.recent_date(past_days)

    def parse(raw: str, env: v.ParseEnv) -> str:
        text = v.normalize(raw).casefold()
        if not text:
            raise v.InvalidAnswer("err.empty")
        today = env.today
        if text in ("明天", "tomorrow"):
            value = today + timedelta(days=1)
        else:
            value = date_of(text, today)
        earliest, latest = today - timedelta(days=past_days), today + timedelta(days=future_days)
        if value < earliest:
            raise v.InvalidAnswer("err.date_too_old", earliest=earliest.isoformat(),
                                  days=past_days)
        if value > latest:
            raise v.InvalidAnswer("err.date_too_far", latest=latest.isoformat())
        return value.isoformat()

    return parse


def date_of(text: str, today: Any) -> Any:
    return v._read_date(text, today)  # noqa: SLF001  (one date reader for every date question)


def _option(b: _Builder, spec: Any, path: str, line: int) -> Option | None:
    if not isinstance(spec, Mapping):
        b.problem(line, f"{path}: an option is a table")
        return None
    b.unknown(spec, OPTION_KEYS, path, line)
    option_id = spec.get("id")
    if not isinstance(option_id, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", option_id):
        b.problem(line, f"{path}: an option needs an id of a-z, 0-9 and _")
        return None
    label = b.text(spec.get("label"), f"{path}.{option_id}", b.lines.key("label", line))
    aliases = spec.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        b.problem(line, f"{path}: aliases is a list of words")
        aliases = []
    if label is None:
        return None
    return Option(option_id, label, value=spec.get("value"), aliases=tuple(aliases),
                  exclusive=bool(spec.get("exclusive", False)), style=int(spec.get("style", 1)))


def _question(b: _Builder, spec: Any, index: int, known: list[str],
              refs: list[tuple[str, list[Any], int]]) -> Question | None:
    line = b.lines.header("question", index)
    if not isinstance(spec, Mapping):
        b.problem(line, "a [[question]] is a table")
        return None
    b.unknown(spec, QUESTION_KEYS, "[[question]]", line)
    key = spec.get("key")
    if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", key):
        b.problem(b.lines.key("key", line), "a question needs a key of a-z, 0-9 and _")
        return None
    if key in known:
        b.problem(b.lines.key("key", line), f"question {key!r} is declared twice")
        return None
    kind = spec.get("kind")
    if kind not in KINDS:
        b.problem(b.lines.key("kind", line),
                  f"{key}: kind must be one of {', '.join(sorted(KINDS))}")
        return None
    path = f"q.{key}"
    prompt = b.text(spec.get("prompt"), f"{path}.prompt", b.lines.key("prompt", line))
    label = b.text(spec.get("label"), f"{path}.label", b.lines.key("label", line),
                   required=False) or ""
    if "label" not in spec and f"field.{key}" not in catalog.CATALOG:
        b.problem(line, f"{key}: a label is required, e.g. label = {{ zh = \"…\", en = \"…\" }} "
                        "(its short name in summaries, the export and the privacy notice)")
    help_key = b.text(spec.get("help"), f"{path}.help", b.lines.key("help", line),
                      required=False) or ""
    unit = b.text(spec.get("unit"), f"{path}.unit", b.lines.key("unit", line), required=False)
    when = None
    if "when" in spec:
        when = _condition(b, spec["when"], f"{key}.when", b.lines.key("when", line), known, refs)
    options: tuple[Option, ...] = ()
    option_line = line
    if kind in ("single", "multi"):
        specs = spec.get("option") or []
        built = []
        for n, o in enumerate(specs):
            option_line = b.lines.key("id", b.lines.header("question.option",
                                                           _option_index(b, line, n)))
            built.append(_option(b, o, f"{path}.option", option_line))
        if not 2 <= len(specs) <= 20:
            b.problem(line, f"{key}: a {kind} question needs 2..20 options")
        options = tuple(o for o in built if o is not None)
    elif kind == "yes_no":
        # yes / no: a text, or { label = text, aliases = [...] } for more reply words.
        made = []
        for side, default, factory in (("yes", "opt.yes", yes), ("no", "opt.no", no)):
            raw = spec.get(side, default)
            words: list[str] = []
            if isinstance(raw, Mapping) and "label" in raw:
                words = [str(w) for w in raw.get("aliases", [])]
                raw = raw["label"]
            label_key = b.text(raw, f"{path}.{side}", b.lines.key(side, line))
            if label_key is not None:
                made.append(factory(label_key, *words))
        if len(made) == 2:
            options = tuple(made)
    parse: v.Parser | None = None
    if kind == "text":
        max_length = int(spec.get("max_length", 200))
        parse = v.optional_text(max_length) if spec.get("optional") else v.free_text(max_length)
    elif kind == "number":
        if "min" not in spec or "max" not in spec:
            b.problem(line, f"{key}: a number question needs min and max")
        parse = _number_parser(float(spec.get("min", 0)), float(spec.get("max", 0)),
                               int(spec.get("decimals", 0)))
    elif kind == "date":
        parse = _date_parser(int(spec.get("past_days", 60)), int(spec.get("future_days", 0)))
    if "parser" in spec:
        if spec["parser"] not in PARSERS:
            b.problem(b.lines.key("parser", line),
                      f"{key}: parser must be one of {', '.join(sorted(PARSERS))}")
        else:
            parse = PARSERS[spec["parser"]]
    advice = []
    for n, a in enumerate(spec.get("advice") or []):
        a_line = b.lines.header("question.advice", _advice_index(b, line, n))
        if not isinstance(a, Mapping):
            b.problem(a_line, f"{key}: advice is a table")
            continue
        b.unknown(a, ADVICE_KEYS, f"{key}.advice", a_line)
        cond = _condition(b, a.get("when"), f"{key}.advice", a_line, [*known, key], refs)
        text = b.text(a.get("text"), f"{path}.advice{n}", a_line)
        if cond is not None and text is not None:
            advice.append(Advice(cond, text, lambda ans, _c, k=key: {k: ans.get(k)}))
    prefill, prefill_prompt = spec.get("prefill"), None
    if prefill is not None:
        prefill_prompt = b.text(spec.get("prefill_prompt"), f"{path}.prefill_prompt", line)
    params = None
    if "params" in spec:
        params = PARAMS.get(str(spec["params"]))
        if params is None:
            b.problem(b.lines.key("params", line),
                      f"{key}: params must be one of {', '.join(sorted(PARAMS))}")
    if prompt is None:
        return None
    kinds = {"text": QuestionKind.TEXT, "number": QuestionKind.NUMBER,
             "single": QuestionKind.SINGLE, "multi": QuestionKind.MULTI,
             "date": QuestionKind.DATE, "location": QuestionKind.LOCATION,
             "yes_no": QuestionKind.SINGLE, "phone": QuestionKind.PHONE}
    try:
        return Question(key, kinds[kind], prompt, label=label, options=options, parse=parse,
                        help=help_key, when=when, prefill=prefill,
                        prefill_prompt=prefill_prompt, unit=unit, advice=tuple(advice),
                        params=params)
    except (ValueError, KeyError) as exc:
        b.problem(line, f"{key}: {exc}")
        return None


def _option_index(b: _Builder, question_line: int, n: int) -> int:
    """Which `[[question.option]]` header (over the whole file) is option n of this question."""
    before = sum(1 for h in b.lines.headers.get("question.option", []) if h < question_line)
    return before + n


def _advice_index(b: _Builder, question_line: int, n: int) -> int:
    before = sum(1 for h in b.lines.headers.get("question.advice", []) if h < question_line)
    return before + n


def _build(text: str) -> tuple[FormFile | None, list[Problem], dict[str, tuple[str, str]]]:
    lines = _Lines(text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        return None, [Problem(int(m.group(1)) if m else 1, f"not TOML: {exc}")], {}
    head = data.get("form")
    if not isinstance(head, Mapping):
        return None, [Problem(1, "the file needs a [form] table")], {}
    b = _Builder(str(head.get("id", "")), lines,
                 hashlib.sha256(text.encode("utf-8")).hexdigest()[:10])
    form_line = lines.header("form")
    b.unknown(data, {"form", "question", "abnormal"}, "the file", 1)
    b.unknown(head, FORM_KEYS, "[form]", form_line)
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", b.form_id):
        b.problem(lines.key("id", form_line), "[form] needs an id of a-z, 0-9 and _")
    version = head.get("version", 1)
    if not isinstance(version, int) or version < 1:
        b.problem(lines.key("version", form_line), "version must be a whole number ≥ 1")
        version = 1
    title = b.text(head.get("title"), "title", lines.key("title", form_line))
    intro = b.text(head.get("intro"), "intro", lines.key("intro", form_line))
    note = b.text(head.get("note"), "note", lines.key("note", form_line), required=False)
    specs = data.get("question") or []
    _ALL[:] = [s.get("key") for s in specs if isinstance(s, Mapping)]
    known: list[str] = []
    refs: list[tuple[str, list[Any], int]] = []
    questions: list[Question] = []
    for n, spec in enumerate(specs):
        q = _question(b, spec, n, known, refs)
        if q is not None:
            questions.append(q)
            known.append(q.key)
    if not questions:
        b.problem(form_line, "the form has no questions")
    abnormal = []
    for n, rule in enumerate(data.get("abnormal") or []):
        r_line = lines.header("abnormal", n)
        if not isinstance(rule, Mapping):
            b.problem(r_line, "[[abnormal]] is a table")
            continue
        b.unknown(rule, ABNORMAL_KEYS, "[[abnormal]]", r_line)
        reason = rule.get("reason")
        if not isinstance(reason, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", reason):
            b.problem(r_line, "[[abnormal]] needs a reason of a-z, 0-9 and _")
            continue
        cond = _condition(b, rule.get("when"), f"abnormal {reason}", lines.key("when", r_line),
                          known, refs)
        label = b.text(rule.get("label", f"reason.{reason}"), f"reason.{reason}",
                       lines.key("label", r_line))
        if cond is not None and label is not None:
            abnormal.append(AbnormalRule(reason, cond, label))
    repeat = None
    if "repeat" in head:
        spec = head["repeat"]
        r_line = lines.header("form.repeat")
        b.unknown(spec, REPEAT_KEYS, "[form.repeat]", r_line)
        eligible = _condition(b, spec.get("eligible", {"all": []}) or {"not": {"all": []}},
                              "repeat.eligible", lines.key("eligible", r_line), known, refs) \
            if spec.get("eligible") else Condition((), lambda a, c: True)
        after, fresh = spec.get("after"), set(spec.get("fresh") or ())
        if after not in known or not fresh <= set(known):
            b.problem(r_line, "repeat names questions the form does not have")
        elif eligible is not None:
            repeat = Repeat(after=after, fresh=frozenset(fresh),
                            eligible=lambda y, c, e=eligible: e(y, c))
    # Options referenced by conditions must exist (a removed option still referenced).
    by_key = {q.key: q for q in questions}
    for key, values, line in refs:
        q = by_key.get(key)
        if q is None or not q.options:
            continue
        stored = [o.stored for o in q.options]
        for value in values:
            if value not in stored:
                b.problem(line, f"{key} has no option {value!r} (removed or misspelt)")
    if b.problems or title is None or intro is None:
        return None, b.problems, b.texts
    saved = dict(catalog.CATALOG)
    catalog.CATALOG.update(b.texts)
    try:
        form = Form(id=b.form_id, version=version, title=title, intro=intro, note=note,
                    daily=bool(head.get("daily", False)), repeat=repeat,
                    questions=tuple(questions))
    except (ValueError, KeyError) as exc:
        catalog.CATALOG.clear()
        catalog.CATALOG.update(saved)
        return None, [Problem(form_line, str(exc))], b.texts
    return FormFile(form, tuple(abnormal), text), [], b.texts


def load_text(text: str) -> FormFile:
    """The form a TOML text declares; FormFileError lists every problem."""
    built, problems, _texts = _build(text)
    if built is None:
        raise FormFileError(problems)
    limits = _limit_problems(built)
    if limits:
        raise FormFileError(limits)
    return built


def check_text(text: str) -> list[Problem]:
    """Every problem of a form file, by line; empty when it can be published."""
    built, problems, _texts = _build(text)
    if built is None:
        return sorted(problems, key=lambda p: p.line)
    return _limit_problems(built)


# ---- WeCom's limits, in both languages and both renderings ------------------------------------


def _limit_problems(ff: FormFile) -> list[Problem]:
    lines = _Lines(ff.text)
    found: list[Problem] = []
    sample = {"value": "欧阳娜娜娜娜娜娜", "member": "欧阳娜娜娜娜", "previous": "北京市",
              "current": "上海市", "temperature": 37.5, "example_day": "12-31"}
    for index, q in enumerate(ff.form.questions):
        line = lines.header("question", index)
        for lang in ("zh", "en"):
            for prompt in filter(None, (q.prompt, q.prefill_prompt)):
                shown = catalog.stacked(prompt, lang, **sample)
                if render.display_width(shown) > render.SUBTITLE_WIDTH:
                    found.append(Problem(lines.key("prompt", line),
                                         f"{q.key}: the {lang} prompt is too long for a card "
                                         f"({render.display_width(shown)} > "
                                         f"{render.SUBTITLE_WIDTH} columns)"))
                text = render.question_text(q, lang, sample) if q.options else shown
                if len(text.encode("utf-8")) > TEXT_LIMIT_BYTES:
                    found.append(Problem(lines.key("prompt", line),
                                         f"{q.key}: the {lang} text message is over "
                                         f"{TEXT_LIMIT_BYTES} bytes"))
            if render.display_width(catalog.side_by_side(q.label, lang)) > render.OPTION_WIDTH:
                found.append(Problem(lines.key("label", line),
                                     f"{q.key}: the {lang} label is too long for a summary "
                                     f"({render.OPTION_WIDTH} columns at most)"))
            for option in q.options:
                if render.display_width(catalog.lang_only(option.label, lang)) > \
                        render.BUTTON_WIDTH or render.display_width(
                            catalog.side_by_side(option.label, lang)) > render.OPTION_WIDTH:
                    found.append(Problem(lines.key("id", line),
                                         f"{q.key}: option {option.id!r} is too long for a "
                                         f"button in {lang}"))
    return found


# ---- shipped files ---------------------------------------------------------------------------


def shipped_text(name: str) -> str:
    if name not in SHIPPED:
        raise KeyError(name)
    return resources.files("bot.forms").joinpath(f"{name}.toml").read_text(encoding="utf-8")


def shipped(name: str) -> FormFile:
    return load_text(shipped_text(name))


def current_city(answers: Mapping[str, Any]) -> str | None:
    """Today's city, or the country when abroad (what `previous_city` is compared with)."""
    location = answers.get("location") or {}
    if location.get("kind") == "abroad":
        return location.get("country")
    return location.get("city")


def city_changed(answers: Mapping[str, Any], ctx: Any) -> bool:
    """True when both today's and the last report's city are known and they differ."""
    current, previous = current_city(answers), getattr(ctx, "previous_city", None)
    return bool(current and previous and current.strip() != previous.strip())


def reason_labels(reasons: Sequence[str], form: FormFile | None = None) -> catalog.Bi:
    """("发热、有症状", "fever, symptoms"): the `reasons` parameter of "alert.abnormal", with the
    labels the form's abnormal rules give (else the catalog's "reason.<r>", else the id)."""
    keys = [form.reason_label(r) if form is not None else f"reason.{r}" for r in reasons]
    return catalog.Bi("、".join(_label(k, r, "zh") for k, r in zip(keys, reasons, strict=True)),
                      ", ".join(_label(k, r, "en") for k, r in zip(keys, reasons, strict=True)))


def _label(key: str, reason: str, lang: str) -> str:
    for candidate in (key, f"reason.{reason}"):
        if candidate in catalog.CATALOG:
            return catalog.lang_only(candidate, lang)
    return reason


def _city_change_params(answers: Mapping[str, Any], ctx: Any) -> Mapping[str, Any]:
    return {"previous": getattr(ctx, "previous_city", None), "current": current_city(answers)}


PARAMS["city_change"] = _city_change_params
