"""Reflex configuration: the app reads its services from mlmcrm's settings.

Loading the settings here validates them in every process Reflex starts (the build, the
backend server), so a misconfigured production stops before it serves anything. The backend
listens on ``BIND_HOST`` (loopback by default), and browsers may call it only from ``APP_URL``.
"""

import os

import reflex as rx
from reflex_base.plugins.sitemap import SitemapPlugin

from mlmcrm.settings import get_settings


def _redis_url() -> str:
    """The Redis that holds Reflex state; the embedded one when ``REDIS_URL`` is unset."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    from mlmcrm.embedded import embedded_redis_url

    url = embedded_redis_url(get_settings().data_dir)
    os.environ["REDIS_URL"] = url
    return url


_settings = get_settings()

config = rx.Config(
    app_name="mlmcrm",
    backend_host=_settings.bind_host,
    cors_allowed_origins=list(_settings.allowed_origins),
    telemetry_enabled=False,
    show_built_with_reflex=False,
    redis_url=_redis_url(),
    state_manager_mode="redis",
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="teal", radius="medium"))],
    disable_plugins=[SitemapPlugin],
)
