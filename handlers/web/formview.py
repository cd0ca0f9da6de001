"""A declared form (bot/conversation) as an HTML form: the same questions, options, conditions
and validators as the chat, never a second copy.

Every question of `form.questions` becomes a field by its kind (no field list here): a question
added to the form appears on the page, and its `parse` (or the kind's default parser), its
options and its `when` are applied exactly as the chat applies them. LOCATION questions get the
chat's ladder as radio choices: the position from the phone (WeCom JS-SDK or the browser's
Geolocation), 在国外 + country, and 定位失败 (the checklist, then a typed unverified address or
请老师代填), with the declared parsers of `forms.LOCATION_STEPS`.

Without JavaScript: conditional questions whose condition does not hold yet are hidden; when a
submission makes one apply, the page comes back asking for it (the JS version shows it at once
by asking `applicable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from multidict import MultiMapping

from bot import catalog
from bot.conversation import engine
from bot.conversation.forms import (
    LOCATION_STEPS,
    Form,
    Loc,
    Question,
    QuestionKind,
)
from bot.conversation.validators import InvalidAnswer, check_choices

# The page's location choices; labels and parsers come from the chat's ladder declarations.
LOC_GPS, LOC_ABROAD, LOC_ADDRESS, LOC_PROXY = "gps", "abroad", "address", "proxy"
LOC_UNKNOWN = "unknown"
# The keys of a stored location (see bot/forms/daily_report.toml).
LOCATION_KEYS = ("kind", "lat", "lng", "label", "label_en", "province", "city", "district",
                 "category", "country", "verified", "source", "reason")


@dataclass
class Field:
    key: str
    kind: str
    label: str
    prompt: str
    options: list[tuple[str, str]] = field(default_factory=list)
    value: Any = None            # str for typed, option id for single, [ids] for multi
    error: str | None = None
    hidden: bool = False         # a condition that does not hold (yet)
    conditional: bool = False
    unit: str = ""
    loc: dict[str, Any] = field(default_factory=dict)  # location: mode, lat, lng, country, ...


@dataclass
class Outcome:
    answers: dict[str, Any]
    errors: dict[str, str]
    raw: dict[str, Any]
    proxy_requested: bool = False
    effects: list[engine.Effect] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _text(key: str, lang: str, **params: Any) -> str:
    return catalog.stacked(key, lang, **params)


def error_text(err: InvalidAnswer, lang: str) -> str:
    try:
        return catalog.stacked(err.key, lang, **err.params)
    except KeyError:
        return catalog.stacked("web.required", lang)


def _prompt(q: Question, answers: Mapping[str, Any], ctx: engine.Context, lang: str) -> str:
    params = dict(q.params(answers, ctx)) if q.params else {}
    try:
        if any(value is None for value in params.values()):
            # Not known yet (no earlier report, no location): never show "None".
            key = f"{q.prompt}.unknown"
            return catalog.stacked(key, lang) if key in catalog.CATALOG else ""
        return catalog.stacked(q.prompt, lang, **params)
    except (KeyError, IndexError):
        return ""


def _raw_value(q: Question, value: Any) -> Any:
    """A stored answer as the form shows it (option ids, plain text)."""
    if value is None:
        return None
    if q.kind in (QuestionKind.SINGLE, QuestionKind.CONFIRM):
        option = q.option_for(value)
        return option.id if option else None
    if q.kind is QuestionKind.MULTI:
        return [o.id for o in (q.option_for(x) for x in value or ()) if o is not None]
    if q.kind is QuestionKind.LOCATION:
        return value if isinstance(value, dict) else None
    return str(value)


def _loc_raw(value: Mapping[str, Any] | None, remembered: str | None) -> dict[str, Any]:
    raw: dict[str, Any] = {"mode": "", "lat": "", "lng": "", "country": remembered or "",
                           "address": "", "reason": "", "source": ""}
    if not value:
        return raw
    kind = value.get("kind")
    if kind == "gps":
        raw.update(mode=LOC_GPS, lat=str(value.get("lat") or ""), lng=str(value.get("lng") or ""))
    elif kind == "abroad":
        raw.update(mode=LOC_ABROAD, country=value.get("country") or "")
    elif kind == "typed":
        raw.update(mode=LOC_ADDRESS, address=value.get("label") or "")
    return raw


def initial_raw(form: Form, answers: Mapping[str, Any], ctx: engine.Context
                ) -> dict[str, Any]:
    """What the page shows before the first submission: earlier answers (the chat's, or
    yesterday's), the roster's prefills (name, ID)."""
    raw: dict[str, Any] = {}
    for q in form.questions:
        if q.key in answers:
            raw[q.key] = _raw_value(q, answers[q.key])
        elif q.prefill and q.prefill in ctx.prefill:
            raw[q.key] = str(ctx.prefill[q.prefill])
        if q.kind is QuestionKind.LOCATION:
            raw[q.key] = _loc_raw(answers.get(q.key), ctx.daily.remembered_country)
    return raw


def read_post(form: Form, post: MultiMapping[Any]) -> dict[str, Any]:
    """The submitted values, by question key (nothing is interpreted yet)."""
    raw: dict[str, Any] = {}
    for q in form.questions:
        if q.kind is QuestionKind.MULTI:
            raw[q.key] = [str(v) for v in post.getall(q.key, [])]
        elif q.kind is QuestionKind.LOCATION:
            raw[q.key] = {name: str(post.get(f"{q.key}.{name}", "")).strip()
                          for name in ("mode", "lat", "lng", "country", "address", "reason",
                                       "source")}
        elif q.key in post:
            raw[q.key] = str(post[q.key])
    return raw


def _location_value(kind: str, **values: Any) -> dict[str, Any]:
    value: dict[str, Any] = dict.fromkeys(LOCATION_KEYS)
    value.update({"verified": False, **values, "kind": kind})
    return value


def _parse_location(q: Question, raw: Mapping[str, str], ctx: engine.Context
                    ) -> dict[str, Any] | str:
    """A location answer, or LOC_PROXY when the member asks the reviewer to fill in."""
    mode = raw.get("mode") or ""
    if mode == LOC_GPS:
        try:
            lat, lng = float(raw.get("lat") or ""), float(raw.get("lng") or "")
        except ValueError:
            raise InvalidAnswer("web.loc.missing") from None
        if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat, lng) == (0.0, 0.0):
            raise InvalidAnswer("err.location_impossible")
        source = raw.get("source") if raw.get("source") in ("jssdk", "browser") else "browser"
        values: dict[str, Any] = {"lat": lat, "lng": lng, "source": source, "verified": True}
        if ctx.daily.geocode is None:
            return _location_value("gps", **values, label=f"{lat:.5f}, {lng:.5f}")
        try:
            place = ctx.daily.geocode(lat, lng)
        except ValueError:
            raise InvalidAnswer("err.location_impossible") from None
        if place.category == "abroad":
            raise InvalidAnswer("web.loc.abroad_here")
        return _location_value("gps", **values, label=place.label("zh"),
                               label_en=place.label("en"), province=place.province,
                               city=place.city, district=place.district,
                               category=place.category)
    if mode == LOC_ABROAD:
        parse = LOCATION_STEPS[Loc.COUNTRY].question.parser
        assert parse is not None
        country = parse(raw.get("country") or "", ctx)
        return _location_value("abroad", country=country, category="abroad")
    if mode == LOC_ADDRESS:
        parse = LOCATION_STEPS[Loc.ADDRESS].question.parser
        assert parse is not None
        address = parse(raw.get("address") or "", ctx)
        # Unverified, but its province/city/district are read for the export (as in the chat).
        read = ctx.daily.read_address
        place = read(address) if read is not None else None
        if place is None:
            return _location_value("typed", label=address)
        return _location_value("typed", label=address, province=place.province,
                               city=place.city, district=place.district,
                               category=place.category)
    if mode == LOC_UNKNOWN and ctx.proxy_for:
        parse = LOCATION_STEPS[Loc.UNKNOWN_REASON].question.parser
        assert parse is not None
        return _location_value("unknown", reason=parse(raw.get("reason") or "", ctx))
    if mode == LOC_PROXY and not ctx.proxy_for:
        return LOC_PROXY
    raise InvalidAnswer("web.loc.missing")


def _parse_one(q: Question, raw: Any, ctx: engine.Context) -> Any:
    if q.kind in (QuestionKind.SINGLE, QuestionKind.CONFIRM, QuestionKind.MULTI):
        ids = raw if isinstance(raw, list) else ([raw] if raw else [])
        chosen = [o for o in (q.option(i) for i in ids) if o is not None]
        if not ids:
            raise InvalidAnswer("web.required")
        if len(chosen) != len(ids):
            raise InvalidAnswer("err.choice")
        picked = check_choices(q.options, chosen, multi=q.kind is QuestionKind.MULTI)
        if q.kind is QuestionKind.MULTI:
            return [o.stored for o in picked]
        return picked[0].stored
    parse = q.parser
    assert parse is not None, q.key
    return parse(raw if isinstance(raw, str) else "", ctx)


def parse(form: Form, raw: Mapping[str, Any], ctx: engine.Context, lang: str) -> Outcome:
    """Validate a submission question by question, in declaration order, so each `when`
    sees the answers before it — as in the chat."""
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    outcome = Outcome(answers, errors, dict(raw))
    for q in form.questions:
        if not q.applies(answers, ctx):
            continue
        if q.kind is QuestionKind.LOCATION:
            try:
                value = _parse_location(q, raw.get(q.key) or {}, ctx)
            except InvalidAnswer as err:
                errors[q.key] = error_text(err, lang)
                continue
            if value == LOC_PROXY:
                outcome.proxy_requested = True
                return outcome
            assert isinstance(value, dict)
            if ctx.proxy_for:
                value["proxy_reason"] = (raw.get(q.key) or {}).get("reason") or "web"
            answers[q.key] = value
            continue
        if q.key not in raw:  # a question that only now applies (no JavaScript)
            errors[q.key] = catalog.stacked("web.answer_needed", lang)
            continue
        try:
            answers[q.key] = _parse_one(q, raw[q.key], ctx)
        except InvalidAnswer as err:
            errors[q.key] = error_text(err, lang)
    if not errors:
        outcome.effects = country_effects(form, answers, ctx)
    return outcome


def country_effects(form: Form, answers: Mapping[str, Any], ctx: engine.Context
                    ) -> list[engine.Effect]:
    """Remember the country of someone abroad (offered next time), forget it once back."""
    target = ctx.proxy_for or ctx.userid
    effects = []
    for q in form.questions:
        value = answers.get(q.key)
        if q.kind is not QuestionKind.LOCATION or not isinstance(value, dict):
            continue
        if value["kind"] == "abroad" and value["country"] != ctx.daily.remembered_country:
            effects.append(engine.Effect("remember_country",
                                         {"userid": target, "country": value["country"]}))
        elif value["kind"] in ("gps", "typed") and ctx.daily.remembered_country:
            effects.append(engine.Effect("forget_country", {"userid": target}))
    return effects


def applicable(form: Form, raw: Mapping[str, Any], ctx: engine.Context) -> list[str]:
    """Keys of the questions that apply given what is filled in so far (for the page's JS)."""
    answers = _lenient_answers(form, raw, ctx)
    return [q.key for q in form.questions if q.applies(answers, ctx)]


def _lenient_answers(form: Form, raw: Mapping[str, Any], ctx: engine.Context
                     ) -> dict[str, Any]:
    """The answers that parse so far (invalid ones are left out, not reported)."""
    answers: dict[str, Any] = {}
    for q in form.questions:
        if not q.applies(answers, ctx) or q.key not in raw:
            continue
        try:
            if q.kind is QuestionKind.LOCATION:
                value = _parse_location(q, raw[q.key] or {}, ctx)
                if isinstance(value, dict):
                    answers[q.key] = value
            else:
                answers[q.key] = _parse_one(q, raw[q.key], ctx)
        except InvalidAnswer:
            continue
    return answers


def fields(form: Form, raw: Mapping[str, Any], ctx: engine.Context, lang: str,
           errors: Mapping[str, str] | None = None) -> list[Field]:
    """The page's fields, in form order, with values, errors and visibility."""
    errors = errors or {}
    answers = _lenient_answers(form, raw, ctx)
    result = []
    for q in form.questions:
        f = Field(key=q.key, kind=str(q.kind), label=catalog.side_by_side(q.label, lang),
                  prompt=_prompt(q, answers, ctx, lang),
                  options=[(o.id, catalog.side_by_side(o.label, lang)) for o in q.options],
                  value=raw.get(q.key), error=errors.get(q.key),
                  hidden=not q.applies(answers, ctx), conditional=q.when is not None,
                  unit=catalog.lang_only(q.unit, lang) if q.unit else "")
        if q.kind is QuestionKind.LOCATION:
            f.loc = {**_loc_raw(None, ctx.daily.remembered_country), **(raw.get(q.key) or {})}
            f.options = _location_options(lang, proxy=bool(ctx.proxy_for))
        if q.kind is QuestionKind.DATE and isinstance(f.value, str):
            f.value = f.value[:10]
        result.append(f)
    return result


def _location_options(lang: str, *, proxy: bool) -> list[tuple[str, str]]:
    """The ladder's choices, labelled by the chat's own option labels."""
    ask = {o.id: o.label for o in LOCATION_STEPS[Loc.ASK].question.options}
    failed = {o.id: o.label for o in LOCATION_STEPS[Loc.FAILED].question.options}
    if proxy:
        unknown = {o.id: o.label for o in LOCATION_STEPS[Loc.PROXY_ASK].question.options}
        return [(LOC_ADDRESS, catalog.side_by_side("web.loc.address", lang)),
                (LOC_ABROAD, catalog.side_by_side(ask["abroad"], lang)),
                (LOC_UNKNOWN, catalog.side_by_side(unknown["unknown"], lang))]
    return [(LOC_GPS, catalog.side_by_side("web.loc.here", lang)),
            (LOC_ABROAD, catalog.side_by_side(ask["abroad"], lang)),
            (LOC_ADDRESS, f"{catalog.side_by_side(ask['failed'], lang)} · "
                          f"{catalog.side_by_side(failed['type'], lang)}"),
            (LOC_PROXY, f"{catalog.side_by_side(ask['failed'], lang)} · "
                        f"{catalog.side_by_side(failed['proxy'], lang)}")]
