"""Argument types shared by the commands: a bad value is a usage error (exit 2) before any work."""

from __future__ import annotations

import argparse
import re
from decimal import Decimal

from genesis_payments.core.errors import InvalidMoney
from genesis_payments.core.money import parse_usd
from genesis_payments.core.records import ID_PATTERN, ID_RULE

_ID = re.compile(ID_PATTERN)


def usd_argument(text: str) -> Decimal:
    """A positive USDC amount, parsed by the one money parser (§3)."""
    try:
        amount = parse_usd(text)
    except (InvalidMoney, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"not a USDC amount ({exc})") from None
    if amount <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 USDC")
    return amount


def id_argument(text: str) -> str:
    """An intent, decision or payment id: the records' id rule (no '/', NUL, controls, bidi)."""
    if len(text) > 256 or not _ID.match(text):
        raise argparse.ArgumentTypeError(f"an id must be {ID_RULE}")
    return text
