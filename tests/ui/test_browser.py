"""The browser the UI tests need is there: a missing Chromium is a failure, never a skip."""

from __future__ import annotations

import os

from .helpers import CHROMIUM, chromium_missing_message


def test_chromium_is_installed() -> None:
    assert CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK), chromium_missing_message()
