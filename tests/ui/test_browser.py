"""The browser the UI tests need is there: a missing Chromium is a failure, never a skip."""

from __future__ import annotations

import os
from contextlib import suppress

import pytest

from .helpers import CHROMIUM, chromium_missing_message


def test_chromium_is_installed(request: pytest.FixtureRequest) -> None:
    if not CHROMIUM.exists():
        # The ``browser`` fixture installs it where it can (as root on Debian); its own failure
        # is reported by every other test, this one reports the reason as a plain failure.
        with suppress(BaseException):
            request.getfixturevalue("browser")
    assert CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK), chromium_missing_message()
