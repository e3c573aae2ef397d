"""Keeping the server's resident memory close to what it uses.

Decoded 1080p frames are 6 MB buffers, allocated and freed many times a second by several
threads. glibc's malloc raises its mmap threshold each time such a block is freed (up to
32 MB), after which frames come from per-thread heap arenas that it rarely gives back: a
server that touched a few hundred frames keeps hundreds of MB it no longer uses. A fixed
threshold (which also turns the adjustment off) keeps big buffers in mmap, returned to the
system when freed, and fewer arenas bound what small-object fragmentation can hold.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 1024 * 1024
ARENAS = 4


def tune_malloc() -> bool:
    """Applies the settings above when this process runs on glibc; ``False`` elsewhere."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_ARENA_MAX, ARENAS))
    if not done:
        log.debug("mallopt refused the memory settings")
    return done
