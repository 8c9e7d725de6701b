"""Memory settings for processes that run the engine on big periods.

A run allocates and frees many arrays of 1 to 35 MB. By default glibc gives each of those its own
``mmap`` and returns it on free, so the next array of the size faults in fresh, zeroed pages
again: a new process spends as long in page faults as in the engine's arithmetic. Keeping freed
memory in the heap lets later arrays reuse pages that are already mapped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # the largest glibc accepts on 64-bit systems
TRIM_THRESHOLD = 4 * 1024 * 1024 * 1024
TOP_PAD = 256 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed memory instead of returning it to the system at once.

    Meant for processes that exist to run the engine (the commission job's work horse, the
    benchmarks): memory stays with the process until it exits. Elsewhere (not glibc), nothing
    happens.

    Returns:
        Whether the settings were applied.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    applied &= mallopt(_M_TRIM_THRESHOLD, min(TRIM_THRESHOLD, 2**31 - 1))
    applied &= mallopt(_M_TOP_PAD, TOP_PAD)
    return bool(applied)
