import asyncio
import importlib
import threading


def test_reflex_keeps_state_in_redis(redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    from reflex.istate.manager import StateManager
    from reflex.istate.manager.redis import StateManagerRedis
    from reflex_base.config import get_config

    import rxconfig

    importlib.reload(rxconfig)
    get_config(reload=True)
    assert rxconfig.config.redis_url == redis_url
    manager = StateManager.create()
    try:
        assert isinstance(manager, StateManagerRedis)
    finally:
        # Closed on a loop of its own: the browser tests' driver may own this thread's loop.
        closer = threading.Thread(target=lambda: asyncio.run(manager.close()))
        closer.start()
        closer.join(timeout=30)
