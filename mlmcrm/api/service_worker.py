"""The installed app's service worker, served at ``/sw.js`` with the production build's file list.

The worker (``mlmcrm/data/service-worker.js``) precaches the app's shell and its offline pages.
The built frontend's file names carry content hashes, so the list of files to precache is made
from the build output: the HTML of the shell's pages (:data:`SHELL_ROUTES`), every ``/assets/``
file those pages load, and the offline pages shipped in ``assets/`` (:data:`OFFLINE_FILES`). The
worker's ``VERSION`` is a digest of the template and of every listed file's content, so a new
build (or a changed offline page) makes a new worker, which the open pages offer as "update
available, reload". The list is made once per build, the first time the worker is asked for
after it (the build's ``index.html`` modification time marks a build), like the
Content-Security-Policy's script hashes.

Served from the app rather than from ``assets/``: a service worker controls the folder it is
served from, and only a file at the root may control every page.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from mlmcrm import routes
from mlmcrm.api.security_headers import frontend_build_dir

TEMPLATE = Path(__file__).resolve().parent.parent / "data" / "service-worker.js"
SHELL_ROUTES: tuple[str, ...] = (
    routes.INDEX,
    routes.LOGIN,
    routes.DISTRIBUTOR_HOME,
    routes.CRM,
    routes.CRM_TODAY,
)
"""The pages whose HTML and scripts are precached: where a distributor lands on their phone."""
OFFLINE_FILES: tuple[str, ...] = (
    routes.OFFLINE_PAGE,
    routes.OFFLINE_CRM,
    "/offline/crm.js",
    "/offline/store.js",
    "/offline/offline.css",
    "/pwa.js",
    "/app.css",
    "/manifest.webmanifest",
    "/favicon.ico",
    "/icon.svg",
    "/icons/icon-192.png",
    "/icons/maskable-192.png",
)
"""The offline pages and what they load: all shipped in ``assets/``, copied into the build."""
# A file of the built frontend named in a page: <script src>, <link href>, import("…").
_ASSET_REFERENCE = re.compile(r"""["'(](/assets/[A-Za-z0-9._\-/]+\.(?:js|css|woff2?|svg|png))""")


@dataclass(frozen=True)
class Worker:
    """The service worker's text for one build, and its version."""

    version: str
    precache: tuple[str, ...]
    text: str


def _file_of(build_dir: Path, url: str) -> Path | None:
    """The built file that answers ``url`` (a page's HTML, or a file), or None."""
    relative = url.strip("/")
    if not relative:
        candidates = [build_dir / "index.html"]
    elif url.endswith("/"):
        candidates = [build_dir / relative / "index.html"]
    else:
        candidates = [
            build_dir / relative,
            build_dir / f"{relative}.html",
            build_dir / relative / "index.html",
        ]
    root = build_dir.resolve()
    for candidate in candidates:
        path = candidate.resolve()
        if path.is_file() and path.is_relative_to(root):
            return path
    return None


def precache_list(build_dir: Path) -> tuple[str, ...]:
    """The URLs the worker precaches for the build in ``build_dir`` (sorted, each once).

    Args:
        build_dir: The folder of the built frontend.

    Returns:
        The shell's pages and the files they load, and the offline pages; only files the build
        holds (a page that was not built is left out rather than failing the install).
    """
    urls: set[str] = set()
    for route in SHELL_ROUTES:
        page = _file_of(build_dir, route)
        if page is None:
            continue
        urls.add(route)
        for reference in _ASSET_REFERENCE.findall(page.read_text("utf-8", errors="replace")):
            if _file_of(build_dir, reference) is not None:
                urls.add(reference)
    urls.update(url for url in OFFLINE_FILES if _file_of(build_dir, url) is not None)
    return tuple(sorted(urls))


def build_worker(build_dir: Path, template: Path = TEMPLATE) -> Worker:
    """The worker for the build in ``build_dir``: the template with its version and file list.

    Args:
        build_dir: The folder of the built frontend.
        template: The worker's source.

    Returns:
        The worker; its version changes whenever the template or any precached file does.
    """
    source = template.read_text("utf-8")
    precache = precache_list(build_dir)
    digest = hashlib.sha256(source.encode())
    for url in precache:
        path = _file_of(build_dir, url)
        digest.update(url.encode() + b"\0")
        digest.update(path.read_bytes() if path is not None else b"")
    version = digest.hexdigest()[:16]
    text = source.replace('"__VERSION__"', json.dumps(version)).replace(
        "__PRECACHE__", json.dumps(list(precache))
    )
    return Worker(version, precache, text)


class _WorkerCache:
    """The worker, made again when the build (or the template) changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp: tuple[float, float] | None = None
        self._worker: Worker | None = None

    def worker(self, build_dir: Path) -> Worker | None:
        index = build_dir / "index.html"
        if not index.is_file():
            return None
        stamp = (index.stat().st_mtime, TEMPLATE.stat().st_mtime)
        with self._lock:
            if self._worker is None or stamp != self._stamp:
                self._worker, self._stamp = build_worker(build_dir), stamp
            return self._worker


_cache = _WorkerCache()
router = APIRouter(include_in_schema=False)


@router.get(routes.SERVICE_WORKER)
def service_worker() -> Response:
    """The service worker for the build being served; 404 while the frontend is not built."""
    worker = _cache.worker(frontend_build_dir())
    if worker is None:
        return PlainTextResponse("The app's frontend is not built.", status_code=404)
    return Response(
        worker.text,
        media_type="text/javascript",
        headers={
            # Browsers check for a new worker on navigation; never let a cache answer for it.
            "Cache-Control": "no-cache",
            "Service-Worker-Allowed": "/",
        },
    )
