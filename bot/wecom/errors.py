"""Typed WeCom API errors, chosen by errcode alone.

WeCom's errmsg wording changes and carries hints and IPs, so code must never branch on it
(protocol doc §5.2). Callers branch on the class instead: the outbox retries `TransientError`
(honouring `retry_after`), drops or alerts on `InvalidRecipientError`, fixes the card on
`CardError`, and stops everything on `ConfigurationError`.
"""

from __future__ import annotations

#: errcodes after which a later retry can succeed (system busy, frequency, concurrency).
TRANSIENT_CODES = frozenset({-1, 45009, 45033})
#: errcodes that only an operator can fix (secret, corp id, agent id, IP, permissions).
CONFIGURATION_CODES = frozenset({40001, 40013, 40056, 60020, 48002, 301002, 60011, 40091})
#: Missing, invalid or expired access token: refresh once, retry once (client-internal).
TOKEN_CODES = frozenset({40014, 42001, 41001})
#: Every recipient invalid, bad UserID / UserID list / list length, no recipient at all.
RECIPIENT_CODES = frozenset({81013, 40003, 40031, 40032, 82001})
#: template_card problems: task_id, response_code, field errors (42015, 42017-42051).
CARD_CODES = frozenset({42014, 42015, 42016, 60140, *range(42017, 42052)})

#: How long to back off after a frequency limit (45009): minute-level blocks last 60 s.
FREQUENCY_BACKOFF_SECONDS = 60.0


class WeComError(Exception):
    """A failed WeCom API call. `http_status` is set when the failure was HTTP-level."""

    def __init__(self, errcode: int, errmsg: str = "", *, api: str | None = None,
                 http_status: int | None = None) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api
        self.http_status = http_status
        where = f" ({api})" if api else ""
        super().__init__(f"WeCom errcode {errcode}{where}: {errmsg}")


class TransientError(WeComError):
    """Worth retrying later: system busy, rate or concurrency limit, 5xx, network, timeout."""

    def __init__(self, errcode: int, errmsg: str = "", *, api: str | None = None,
                 http_status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(errcode, errmsg, api=api, http_status=http_status)
        if retry_after is None and errcode == 45009:
            retry_after = FREQUENCY_BACKOFF_SECONDS
        #: Seconds to wait before retrying, when WeCom's rules say so; None = caller's backoff.
        self.retry_after = retry_after


class ConfigurationError(WeComError):
    """Wrong secret, corp id, agent id, untrusted IP or missing permission: never retried."""


class TokenExpiredError(TransientError):
    """The access token was missing, invalid or expired.

    The client handles this itself (invalidate, refresh once, retry once); it only escapes when
    the retried call fails the same way, which is then worth retrying later.
    """


class InvalidRecipientError(WeComError):
    """No valid recipient (81013, 82001) or a malformed UserID list."""


class CardError(WeComError):
    """The template card, its task_id or its response_code was refused."""


class PermanentError(WeComError):
    """Any other non-zero errcode: retrying the same request will not help."""


def error_for(errcode: int, errmsg: str = "", *, api: str | None = None) -> WeComError:
    """The typed error for a non-zero errcode (branching on the code, never the message)."""
    cls: type[WeComError]
    if errcode in TOKEN_CODES:
        cls = TokenExpiredError
    elif errcode in TRANSIENT_CODES:
        cls = TransientError
    elif errcode in CONFIGURATION_CODES:
        cls = ConfigurationError
    elif errcode in RECIPIENT_CODES:
        cls = InvalidRecipientError
    elif errcode in CARD_CODES:
        cls = CardError
    else:
        cls = PermanentError
    return cls(errcode, errmsg, api=api)
