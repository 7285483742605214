"""Argument types shared by the commands: a bad value is a usage error (exit 2) before any work."""

from __future__ import annotations

import argparse
import re

from genesis_payments.core.records import ID_PATTERN, ID_RULE

_ID = re.compile(ID_PATTERN)


def id_argument(text: str) -> str:
    """An intent, decision or payment id: the records' id rule (no '/', NUL, controls, bidi)."""
    if len(text) > 256 or not _ID.match(text):
        raise argparse.ArgumentTypeError(f"an id must be {ID_RULE}")
    return text
