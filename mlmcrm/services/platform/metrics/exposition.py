"""What a scrape returns, and the folder the web processes share their metrics in.

With ``PROMETHEUS_MULTIPROC_DIR`` set before the process starts, ``prometheus_client`` keeps
every value of :mod:`.instruments` in a memory-mapped file of that folder named after the metric
type and the process id (``counter_4711.db``, ``gauge_livesum_4711.db``...). A scrape, served by
whichever web process the request reaches, reads every file with
:class:`~prometheus_client.multiprocess.MultiProcessCollector` and adds them up. Without the
variable the process's own values are served (one web process, or the tests).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from prometheus_client import exposition
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from mlmcrm.services.platform.metrics.instruments import REGISTRY

logger = logging.getLogger(__name__)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
MAX_ACCEPT_LENGTH = 512

# The files prometheus_client writes in multiprocess mode: ``<type>_<pid>.db``. Only these are
# ever removed from the folder, whatever else someone keeps there.
_VALUE_FILE = re.compile(
    r"^(?:counter|histogram|summary|gauge_(?:live)?(?:all|min|max|sum|mostrecent))_(\d+)\.db$"
)
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live(?:all|min|max|sum|mostrecent)_(\d+)\.db$")


class Collector(Protocol):
    """Anything that yields metric families when scraped."""

    def collect(self) -> Iterable[Metric]:
        """The metric families, read now."""
        ...


def multiprocess_directory() -> Path | None:
    """The shared folder of this process (``PROMETHEUS_MULTIPROC_DIR``), or None."""
    value = os.environ.get(MULTIPROCESS_ENV, "").strip()
    return Path(value) if value else None


def ensure_directory() -> None:
    """Create this process's shared folder if it is set and missing (a value could not be kept)."""
    directory = multiprocess_directory()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)


def prepare_directory(path: Path) -> Path:
    """Create ``path``, or empty it of the value files a previous run left there.

    Called before the web processes start: counters start again from zero (Prometheus's
    ``rate`` and ``increase`` take a restart in their stride), and the gauges of processes that
    no longer exist go. Files that prometheus_client did not write are left alone.

    Returns:
        The folder.
    """
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if _VALUE_FILE.match(entry.name):
            entry.unlink(missing_ok=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def forget_dead_processes(path: Path) -> list[int]:
    """Drop the live gauges of the web processes that died (a crash, a restarted worker).

    Their counters and histograms stay: what they counted happened. Called at every scrape,
    so no server hook is needed when a worker exits.

    Returns:
        The ids of the processes forgotten.
    """
    dead = set()
    for entry in path.iterdir():
        match = _LIVE_GAUGE_FILE.match(entry.name)
        if match and not _alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in sorted(dead):
        mark_process_dead(pid, str(path))
    return sorted(dead)


class _Scrape:
    """The collectors of one scrape, in order, as one collector."""

    def __init__(self, sources: Iterable[Collector]) -> None:
        self._sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self._sources:
            yield from source.collect()


def recorded_metrics(directory: Path | None = None) -> Collector:
    """The recorded metrics: summed over the shared folder's files, else this process's own.

    Args:
        directory: The shared folder; this process's ``PROMETHEUS_MULTIPROC_DIR`` by default.
    """
    directory = directory or multiprocess_directory()
    if directory is None:
        return REGISTRY
    forget_dead_processes(directory)
    return MultiProcessCollector(None, path=str(directory))


def _encoder(accept: str | None) -> tuple[Callable[..., bytes], str]:
    """The format the scraper asked for (``Accept``), the text format 0.0.4 when unclear."""
    try:
        return exposition.choose_encoder((accept or "")[:MAX_ACCEPT_LENGTH])
    except (TypeError, ValueError):  # a malformed version such as "version=abc"
        return exposition.generate_latest, exposition.CONTENT_TYPE_PLAIN_0_0_4


def render(
    accept: str | None = None,
    *,
    collectors: Iterable[Collector] = (),
    directory: Path | None = None,
) -> tuple[bytes, str]:
    """The exposition of the recorded metrics and of ``collectors``, and its content type.

    Args:
        accept: The scraper's ``Accept`` header (Prometheus asks for OpenMetrics or the text
            format; anything unclear gets the text format 0.0.4).
        collectors: Collectors read at scrape time (the figures read from the database).
        directory: The shared folder (default: ``PROMETHEUS_MULTIPROC_DIR``).

    Returns:
        The body and its ``Content-Type``.
    """
    scrape = _Scrape([recorded_metrics(directory), *collectors])
    encode, content_type = _encoder(accept)
    try:
        return encode(scrape), content_type
    except ValueError:  # an OpenMetrics version the library cannot write
        return exposition.generate_latest(scrape), exposition.CONTENT_TYPE_PLAIN_0_0_4
