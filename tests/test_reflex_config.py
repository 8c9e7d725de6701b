import asyncio
import importlib
from concurrent.futures import ThreadPoolExecutor


def test_reflex_keeps_state_in_redis(redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    from reflex.istate.manager import StateManager
    from reflex.istate.manager.redis import StateManagerRedis
    from reflex_base.config import get_config

    import rxconfig

    importlib.reload(rxconfig)
    get_config(reload=True)
    assert rxconfig.config.redis_url == redis_url

    async def manager_kind() -> type:
        manager = StateManager.create()
        try:
            return type(manager)
        finally:
            await manager.close()

    # A loop of its own: the browser tests' driver may own this thread's loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        kind = pool.submit(asyncio.run, manager_kind()).result(timeout=60)
    assert issubclass(kind, StateManagerRedis)
