import pytest
from fastapi.testclient import TestClient
from rq import Queue, Worker

from mlmcrm import settings
from mlmcrm.api import create_api
from mlmcrm.services.platform.jobs import redis_connection


@pytest.fixture()
def client(database_url, redis_url):
    return TestClient(create_api())


def _clear_workers(connection):
    for worker in Worker.all(connection=connection):
        worker.register_death()


def test_health_is_503_naming_the_worker_when_none_runs(client):
    _clear_workers(redis_connection())
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["worker"]
    assert body["database"] == "ok" and body["redis"] == "ok"


def test_health_is_200_with_a_live_worker(client):
    connection = redis_connection()
    worker = Worker([Queue("default", connection=connection)], connection=connection)
    worker.register_birth()
    worker.heartbeat()
    try:
        response = client.get("/api/health")
        assert response.status_code == 200, response.json()
        assert response.json() == {
            "status": "ok",
            "database": "ok",
            "redis": "ok",
            "worker": "ok",
            "down": [],
        }
    finally:
        worker.register_death()


def test_health_names_redis_when_it_is_down(client, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    settings.get_settings.cache_clear()
    try:
        response = client.get("/api/health")
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()
    assert response.status_code == 503
    assert "redis" in response.json()["down"]


def test_openapi_document_is_served_under_api(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert "/api/health" in response.json()["paths"]
