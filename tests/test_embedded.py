"""The embedded servers a fresh machine runs: data survives a restart, shutdown is clean."""

import subprocess
import sys
import textwrap

import psycopg
import redis

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mlmcrm.db import libpq_url
    from mlmcrm.embedded import embedded_postgres_url, embedded_redis_url
    import psycopg, redis
    data = Path(sys.argv[1])
    db = libpq_url(embedded_postgres_url(data))
    rd = embedded_redis_url(data)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS kept (v int)")
        if sys.argv[2] == "write":
            conn.execute("INSERT INTO kept VALUES (42)")
            redis.Redis.from_url(rd).set("kept", "yes")
        else:
            print(conn.execute("SELECT v FROM kept").fetchone()[0])
            print(conn.execute("SHOW server_version_num").fetchone()[0])
            print(redis.Redis.from_url(rd).get("kept").decode())
    print(db)
    print(rd)
    """
)


def _run(data_dir, mode):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(data_dir), mode],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_embedded_postgres_and_redis_keep_data_across_restarts_and_stop_on_exit(tmp_path):
    data_dir = tmp_path / "data"
    _run(data_dir, "write")
    value, version, kept, db_url, redis_url = _run(data_dir, "read")
    assert value == "42" and kept == "yes"
    assert int(version) >= 150000
    assert (data_dir / "postgres" / "PG_VERSION").exists()
    # Both servers stopped with the process that started them.
    try:
        psycopg.connect(db_url, connect_timeout=2).close()
        still_running = True
    except psycopg.OperationalError:
        still_running = False
    assert not still_running
    try:
        alive = redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError):
        alive = False
    assert not alive
