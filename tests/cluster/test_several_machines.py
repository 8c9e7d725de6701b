"""The several-machines recipe, as the guide writes it, on processes standing in for machines."""

from __future__ import annotations

import re
import time
import uuid

import redis
from rq import Worker

from mlmcrm.db import session_scope
from mlmcrm.services.accounts import accounts
from mlmcrm.services.platform import jobs as job_service
from mlmcrm.services.platform.actor import Actor
from tests.cluster.conftest import Cluster
from tests.live_app import (
    DEMO_PASSWORD,
    DISTRIBUTOR_EMAIL,
    http,
    socket_events,
    state_values,
    wait_for,
)


def _backends(cluster: Cluster) -> set[str]:
    return {f"127.0.0.1:{port}" for port in cluster.web_ports}


def test_one_tab_is_served_by_every_web_app_with_its_state_in_redis(cluster: Cluster):
    cookie = cluster.sign_in(DISTRIBUTOR_EMAIL, DEMO_PASSWORD)
    token = str(uuid.uuid4())
    before = len(cluster.upstreams_of("/_event"))
    for _ in range(4):
        # The same tab reconnecting (a phone that lost its signal, a reload): any web app.
        connected, updates = socket_events(cluster.url, "/home", cookie=cookie, token=token)
        assert connected, "the websocket did not open through the proxy"
        assert DISTRIBUTOR_EMAIL in state_values(updates, "user_email"), updates
    served_by = cluster.upstreams_of("/_event")[before:]
    assert set(served_by) == _backends(cluster), served_by
    keys = redis.Redis.from_url(cluster.redis_url).keys(f"{token}*")
    assert keys, "the tab's state is not in the shared Redis"


def test_pages_and_their_headers_come_through_the_proxy(cluster: Cluster):
    redirect = cluster.get("/login")
    # The app's redirects name the address people use, never a web app's own port.
    assert redirect.status == 307 and redirect.headers["Location"] in (
        "/login/",
        f"{cluster.url}/login/",
    )
    login = cluster.get("/login/")
    assert login.status == 200
    policy = login.headers["Content-Security-Policy"]
    assert "connect-src" in policy and "frame-ancestors 'none'" in policy, policy
    assert cluster.get("/api/health").json()["database"] == "ok"
    # The frontend's scripts (the largest a few hundred kilobytes) come through whole.
    scripts = sorted(set(re.findall(r'/assets/[^"\'?#]+\.js', login.text)))
    assert scripts, login.text[:2000]
    direct = f"http://127.0.0.1:{cluster.web_ports[0]}"
    for script in scripts:
        proxied = cluster.get(script)
        assert proxied.status == 200 and proxied.body == http("GET", direct + script).body, script


def test_jobs_queued_on_any_machine_run_once_on_one_of_the_workers(cluster: Cluster):
    connection = redis.Redis.from_url(cluster.redis_url)
    wait_for(lambda: len(Worker.all(connection=connection)) == 2, what="both workers")
    queued = [
        job_service.enqueue_job(actor=Actor.system("cluster test"), kind="system.check").id
        for _ in range(6)
    ]
    for job_id in queued:
        wait_for(
            lambda job_id=job_id: (
                cluster.query("SELECT status FROM jobs WHERE id = %s", job_id)[0][0] == "succeeded"
            ),
            timeout=180,
            what=f"job {job_id}",
        )
    # A message: queued by this machine, sent by one worker, received once.
    with session_scope("app") as session:
        accounts.request_password_reset(session=session, email=DISTRIBUTOR_EMAIL)

    def resets() -> list:
        return [
            m for m in cluster.smtp.to(DISTRIBUTOR_EMAIL) if m["Subject"] == "Reset your password"
        ]

    wait_for(resets, timeout=120, what="the reset link")
    time.sleep(2)  # a second copy, if another worker took the job too, would be here by now
    assert len(resets()) == 1


def test_a_web_app_that_dies_is_routed_around(cluster: Cluster):
    cookie = cluster.sign_in(DISTRIBUTOR_EMAIL, DEMO_PASSWORD)
    token = str(uuid.uuid4())
    connected, _updates = socket_events(cluster.url, "/home", cookie=cookie, token=token)
    assert connected
    dead = cluster.webs[1]
    dead.kill()
    try:
        before = len(cluster.upstreams_of("/_event"))
        for _ in range(3):
            connected, updates = socket_events(cluster.url, "/home", cookie=cookie, token=token)
            assert connected, "the proxy did not send the tab to the living web app"
            assert DISTRIBUTOR_EMAIL in state_values(updates, "user_email"), updates
        assert cluster.get("/login/").status == 200
        living = f"127.0.0.1:{cluster.web_ports[0]}"
        # nginx notes the dead one's refusal ("127.0.0.1:B, 127.0.0.1:A") and moves on.
        assert all(line.endswith(living) for line in cluster.upstreams_of("/_event")[before:])
    finally:
        dead.start()
        cluster.wait_for_web(1)


def test_every_machine_reaches_postgresql_through_pgbouncer_with_row_level_security(
    cluster: Cluster,
):
    cookie = cluster.sign_in(DISTRIBUTOR_EMAIL, DEMO_PASSWORD)
    connected, updates = socket_events(cluster.url, "/crm", cookie=cookie)
    assert connected
    shown = {
        int(card["id"])
        for columns in state_values(updates, "board_columns")
        for column in columns
        for card in column["cards"]
    }
    (owner_id,) = cluster.query("SELECT id FROM users WHERE email = %s", DISTRIBUTOR_EMAIL)[0]
    own = {row[0] for row in cluster.query("SELECT id FROM contacts WHERE owner_id = %s", owner_id)}
    others = cluster.query("SELECT count(*) FROM contacts WHERE owner_id <> %s", owner_id)[0][0]
    assert shown and others, "the demo company should give contacts to several people"
    assert shown <= own, "a distributor was shown contacts of someone else"
    # The web apps and the workers (a job reads as the batch login) are PgBouncer's clients.
    job_id = job_service.enqueue_job(actor=Actor.system("cluster test"), kind="system.check").id
    wait_for(
        lambda: cluster.query("SELECT status FROM jobs WHERE id = %s", job_id)[0][0] == "succeeded",
        timeout=180,
        what=f"job {job_id}",
    )
    pools = {row[1] for row in cluster.bouncer.admin("SHOW POOLS")}
    assert {cluster.logins["app"], cluster.logins["batch"]} <= pools, pools
    # Nothing logs in to PostgreSQL as those logins except PgBouncer (one pool per login).
    servers = cluster.query(
        "SELECT usename, count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND usename = ANY(%s) GROUP BY usename",
        list(cluster.logins.values()),
    )
    assert all(count <= cluster.bouncer.pool_size for _user, count in servers), servers
