import pytest

from mlmcrm import settings
from mlmcrm.cli import build_parser, main
from mlmcrm.services import crypto, totp
from mlmcrm.services.demo_accounts import current_code, ensure_demo_staff_totp
from mlmcrm.services.errors import DomainError
from tests.factories import make_user


@pytest.mark.parametrize("command", [["totp-code", "x@example.com"], ["rotate-keys"]])
def test_account_commands_have_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_demo_staff_get_a_secret_and_totp_code_prints_a_current_code(
    owner_session, redis_url, capsys
):
    staff = make_user(owner_session, role="support", email="support-demo-cli@example.com")
    secrets = {email: secret for _role, email, secret in ensure_demo_staff_totp()}
    assert staff.email in secrets
    assert ensure_demo_staff_totp() == ensure_demo_staff_totp(), "secrets are kept, not renewed"
    owner_session.refresh(staff)
    assert (
        crypto.decrypt_field(staff.totp_secret_enc, field="users.totp_secret")
        == (secrets[staff.email])
    )
    assert main(["totp-code", staff.email]) == 0
    printed = capsys.readouterr().out.strip()
    step = totp.current_step()
    assert printed in {totp.code_at(secrets[staff.email], s) for s in (step - 1, step, step + 1)}
    assert main(["totp-code", "nobody-at-all@example.com"]) == 2
    assert "no account" in capsys.readouterr().err


def test_totp_helpers_refuse_in_production(owner_session, redis_url, monkeypatch, capsys):
    staff = make_user(owner_session, role="admin", email="admin-prod-cli@example.com")
    monkeypatch.setenv("ENVIRONMENT", "production")
    settings.get_settings.cache_clear()
    try:
        assert main(["totp-code", staff.email]) == 2
        assert "never runs in production" in capsys.readouterr().err
        with pytest.raises(DomainError):
            ensure_demo_staff_totp()
        with pytest.raises(DomainError):
            current_code(owner_session, email=staff.email)
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()


def test_rotate_keys_command_reports_per_column(database_url, redis_url, capsys):
    assert main(["rotate-keys"]) == 0
    out = capsys.readouterr().out
    assert "user_profiles.tax_id_enc:" in out and "is now on key" in out
