"""The local hub's memory: large buffers go back to the system when freed.

The hub moves whole files through one process (moto holds an upload's parts, joins them, answers a
GetObject with the object's bytes; the journal copies each write), on many short-lived threads (the
embedded AWS serves each request on its own). glibc's allocator raises its mmap threshold after the
first large buffer is freed and gives each thread its own arena, so later buffers come from arenas that
seldom shrink: measured, a 1,000,000-line upload left the hub 550 MiB larger than before it, for good.
A fixed mmap threshold (buffers of 1 MiB and more are mapped and unmapped, never kept) and two arenas
keep the hub's resident memory near what it actually holds. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
M_ARENA_MAX = -8
MMAP_THRESHOLD = 1 << 20
ARENAS = 2


def return_freed_memory() -> bool:
    """Set the allocator up as above (before the hub starts its threads); False where it cannot be."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_ARENA_MAX, ARENAS))
