"""Freed memory handed back: glibc's allocator and Python's collector, told to let go.

A running bot has dozens of threads (answers, HTTP workers, the scheduler, Socket Mode). glibc
gives each thread that contends for the heap an arena of its own, up to 8 per core, and keeps
what is freed in an arena for later: after eight answers at once and a detection cycle, the
resident set stays at its high-water mark, in arenas mostly empty. ``limit_arenas`` caps them
(as ``MALLOC_ARENA_MAX`` does; set before the threads start) and ``trim`` returns the free top
of every arena (``malloc_trim``) after the bot's big pieces of work. Elsewhere than glibc
(musl, macOS) both do nothing.

A chart's matplotlib figure is a web of reference cycles: closed, it waits for a full
collection, which a process holding pandas and matplotlib runs rarely, so dead figures (~1 MB
each) piled up answer after answer. ``freeze_startup`` puts what the bot loaded at start out
of the collector's sight (``gc.freeze``), which makes ``release``'s full collection after each
answer and cycle cheap (it scans only what came after).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import platform
from functools import cache

M_ARENA_MAX = -8  # mallopt's parameter, from glibc's malloc.h
ARENAS = 2  # the main heap and one for every other thread: what MALLOC_ARENA_MAX=2 sets


@cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def limit_arenas(arenas: int = ARENAS) -> bool:
    """At most ``arenas`` malloc arenas from now on, unless ``MALLOC_ARENA_MAX`` says
    otherwise (the operator's setting wins). True when glibc took it."""
    libc = _glibc()
    if libc is None or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def trim() -> None:
    """Give the free memory at the top of every arena back to the system."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def freeze_startup() -> None:
    """What is alive now (modules, settings, the app) lives as long as the process: the
    collector stops scanning it."""
    gc.collect()
    gc.freeze()


def release() -> None:
    """After a big piece of work: collect its cycles, then give the free pages back. The
    collection only once the start is frozen (``perfbot run``'s own process): in a process
    that froze nothing it scans every object, ~150 ms with pandas and matplotlib loaded."""
    if gc.get_freeze_count():
        gc.collect()
    trim()
