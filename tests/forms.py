"""The shipped forms as the tests use them (the Python declarations are gone: the TOML files in
bot/forms/ are the one source of each form)."""

from __future__ import annotations

from bot.conversation.form_files import city_changed, current_city, reason_labels, shipped

__all__ = ["BASIC_INFO", "DAILY", "DAILY_REPORT", "abnormal_reasons", "city_changed",
           "current_city", "reason_labels"]

DAILY = shipped("daily_report")
BASIC_INFO = shipped("basic_info").form
DAILY_REPORT = DAILY.form
abnormal_reasons = DAILY.abnormal_reasons
