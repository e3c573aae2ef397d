"""Every module that defines actors. Importing this registers them all; the queue does it
before binding or checking actors, so add each new ``<feature>/background.py`` here."""

from __future__ import annotations

from labelbay.media import background as media_background
from labelbay.worker import diagnostics

__all__ = ["diagnostics", "media_background"]
