import subprocess
import sys

import pytest

from mlmcrm.cli import build_parser, main

COMMANDS = [["run"], ["web"], ["worker"], ["migrate"], ["seed"], ["commissions", "simulate"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_module_entry_point_prints_help():
    result = subprocess.run(
        [sys.executable, "-m", "mlmcrm", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for name in ("run", "worker", "migrate", "seed", "commissions"):
        assert name in result.stdout


def test_bad_arguments_exit_2_with_a_message(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["seed", "--distributors", "-5"])
    assert exit_info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_seed_refuses_a_database_that_holds_a_company(database_url, owner_session, capsys):
    from sqlalchemy import text

    owner_session.execute(
        text("INSERT INTO users (email, role) VALUES ('root@example.com', 'distributor')")
    )
    owner_session.execute(
        text(
            "INSERT INTO distributors (user_id, code, status, joined_at)"
            " SELECT id, 'root-cli', 'active', now() FROM users WHERE email = 'root@example.com'"
        )
    )
    owner_session.commit()
    try:
        assert main(["seed", "--distributors", "10", "--orders", "10"]) == 2
        assert "already holds" in capsys.readouterr().err
    finally:
        owner_session.execute(text("DELETE FROM distributors WHERE code = 'root-cli'"))
        owner_session.execute(text("DELETE FROM users WHERE email = 'root@example.com'"))
        owner_session.commit()


@pytest.mark.parametrize("unset", ["DATABASE_URL", "REDIS_URL", "APP_URL"])
def test_web_alone_refuses_to_start_without_the_shared_services(unset, monkeypatch, capsys):
    from mlmcrm import runtime, settings

    monkeypatch.setenv("DATABASE_URL", "postgresql://owner@127.0.0.1:1/unused")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("APP_URL", "https://crm.example.org")
    monkeypatch.delenv(unset)
    settings.get_settings.cache_clear()
    started = []
    monkeypatch.setattr(runtime.os, "execve", lambda *args: started.append(args))
    assert main(["web", "--port", "3100"]) == 2
    message = capsys.readouterr().err
    assert f"{unset} not set" in message and "use `run`" in message
    assert not started, "nothing may start"


def test_web_alone_refuses_a_database_whose_schema_is_not_this_codes(
    server_url, monkeypatch, capsys
):
    import uuid

    from mlmcrm import db, runtime, settings
    from tests.conftest import create_database, drop_database

    name = f"mlmcrm_web_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    try:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
        monkeypatch.setenv("APP_URL", "https://crm.example.org")
        settings.get_settings.cache_clear()
        db.dispose_engines()
        started = []
        monkeypatch.setattr(runtime.os, "execve", lambda *args: started.append(args))
        assert main(["web"]) == 2
        message = capsys.readouterr().err
        assert "schema is at nothing" in message and "python -m mlmcrm migrate" in message
        assert not started
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()
        db.dispose_engines()
        drop_database(server_url, name)


def test_web_alone_becomes_the_web_server_with_the_public_address(database_url, monkeypatch):
    from mlmcrm import runtime, settings

    monkeypatch.setenv("APP_URL", "https://crm.example.org")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    settings.get_settings.cache_clear()
    started = []
    monkeypatch.setattr(runtime.os, "chdir", lambda _path: None)
    monkeypatch.setattr(runtime.os, "execve", lambda *args: started.append(args))
    main(["web", "--port", "3100"])
    (program, command, env) = started[0]
    assert program == command[0] and command[1:4] == ["run", "--env", "prod"]
    assert "--single-port" in command and command[command.index("--backend-port") + 1] == "3100"
    # The pages open their websocket at the proxy, not at this process's port.
    assert env["REFLEX_API_URL"] == "https://crm.example.org"
