"""Every module that defines actors. Importing this registers them all; the queue does it
before binding or checking actors, so add each new ``<feature>/background.py`` here."""

from __future__ import annotations

from labelbay.backups import actors as backup_actors
from labelbay.datasets import actors as dataset_actors
from labelbay.media import background as media_background
from labelbay.worker import diagnostics

__all__ = ["backup_actors", "dataset_actors", "diagnostics", "media_background"]
