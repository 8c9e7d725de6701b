import subprocess
import sys

import pytest

from mlmcrm.cli import build_parser, main

COMMANDS = [["run"], ["worker"], ["migrate"], ["seed"], ["commissions", "simulate"]]


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
