"""An emulated WeCom corp: the server API the bot calls and the members who call back.

Part of the product: the tests, the demo and the benchmarks run the real bot against it.
"""

from app.emulator.api import ApiError, WeComEmulator
from app.emulator.cards import CardRejected, render_card, validate_template_card
from app.emulator.member import CardNotInteractive
from app.emulator.records import (
    CallbackResult,
    CardView,
    Delivered,
    Department,
    Member,
    render_for_member,
)

__all__ = [
    "ApiError",
    "CallbackResult",
    "CardNotInteractive",
    "CardRejected",
    "CardView",
    "Delivered",
    "Department",
    "Member",
    "WeComEmulator",
    "render_card",
    "render_for_member",
    "validate_template_card",
]
