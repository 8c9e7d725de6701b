"""Running a coroutine to its end from a synchronous test.

The browser tests' Playwright keeps an event loop running in the main thread for the rest of
the test session once it has started, and ``asyncio.run`` refuses to start a second loop in a
thread that has one. Tests collected after the browser tests (``tests/faults``, ``tests/state``
…) therefore run their coroutines through :func:`run`, never through ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to its end, on a thread of its own when this one has a running loop.

    Args:
        coroutine: The coroutine to run.

    Returns:
        What the coroutine returned.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
