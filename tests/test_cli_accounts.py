import io
import sys
import uuid

import pytest
from sqlalchemy import func, text
from sqlmodel import select

from mlmcrm import routes
from mlmcrm.cli import build_parser, main
from mlmcrm.errors import DomainError, PermissionDenied
from mlmcrm.models import AuditLog, User
from mlmcrm.services.accounts import auth, totp
from mlmcrm.services.accounts.admin_accounts import create_admin
from mlmcrm.services.demo.demo_accounts import current_code, ensure_demo_staff_totp
from mlmcrm.services.platform import crypto
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import AuthState
from tests.deployment import deployed_as
from tests.factories import make_user
from tests.handlers import HandlerClient

STRONG_PASSWORD = "violet-harbour-lantern-42"


def _demo(session, user):
    user.is_demo = True
    session.add(user)
    session.commit()
    return user


@pytest.mark.parametrize(
    "command", [["totp-code", "x@example.com"], ["rotate-keys"], ["create-admin", "a@b.test"]]
)
def test_account_commands_have_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_demo_staff_get_a_secret_and_totp_code_prints_a_current_code(
    owner_session, redis_url, capsys
):
    staff = _demo(
        owner_session,
        make_user(owner_session, role="support", email="support-demo-cli@example.com"),
    )
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
    assert "no demo account" in capsys.readouterr().err


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_totp_helpers_refuse_outside_development(
    owner_session, redis_url, monkeypatch, capsys, environment
):
    staff = _demo(
        owner_session,
        make_user(owner_session, role="admin", email=f"admin-{environment}-cli@example.com"),
    )
    ensure_demo_staff_totp()
    with deployed_as(monkeypatch, environment):
        assert main(["totp-code", staff.email]) == 2
        assert f"only in development, not in {environment}" in capsys.readouterr().err
        with pytest.raises(DomainError):
            ensure_demo_staff_totp()
        with pytest.raises(DomainError):
            current_code(session=owner_session, email=staff.email)


def test_totp_code_never_prints_a_real_accounts_code(owner_session, redis_url, capsys):
    # A real staff member at an @example.com address is still not a demo account.
    real = make_user(owner_session, role="finance", email="real-finance-cli@example.com")
    real.totp_secret_enc = crypto.encrypt_field(totp.new_secret(), field="users.totp_secret")
    owner_session.add(real)
    owner_session.commit()
    assert main(["totp-code", real.email]) == 2
    captured = capsys.readouterr()
    assert "no demo account" in captured.err and not captured.out.strip()
    assert real.email not in {email for _role, email, _secret in ensure_demo_staff_totp()}
    owner_session.refresh(real)
    with pytest.raises(DomainError):
        current_code(session=owner_session, email=real.email)


def _create_admin(monkeypatch, email: str, password: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    return main(["create-admin", email, "--password-stdin"])


def test_create_admin_makes_an_admin_who_must_enrol_two_factor_first(
    owner_session, redis_url, monkeypatch, capsys
):
    email = f"first-admin-{uuid.uuid4().hex[:8]}@example.org"
    assert _create_admin(monkeypatch, email, STRONG_PASSWORD) == 0
    assert "two-factor" in capsys.readouterr().out
    user = owner_session.exec(select(User).where(User.email == email)).one()
    assert (user.role, user.status, user.is_demo) == ("admin", "active", False)
    assert user.totp_secret_enc is None
    audit = owner_session.exec(
        select(AuditLog).where(
            AuditLog.action == "user.created", AuditLog.entity_id == str(user.id)
        )
    ).one()
    assert audit.actor_id is None and audit.actor_label == "cli create-admin"
    assert STRONG_PASSWORD not in str(audit.after)

    who, token = auth.login(session=owner_session, email=email, password=STRONG_PASSWORD)
    owner_session.commit()
    assert who.must_enrol_two_factor and not who.fully_signed_in
    tab = HandlerClient(token, path=routes.ADMIN_USERS)
    assert tab.call(AuthState.guard_staff).redirect.startswith(routes.TWO_FACTOR_SETUP)
    assert tab.call(AuthState.guard_people).redirect.startswith(routes.TWO_FACTOR_SETUP)


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "at least 8"), ("password123", "common"), ("", "at least 8")],
)
def test_create_admin_refuses_a_weak_password(
    owner_session, redis_url, monkeypatch, capsys, password, message
):
    email = f"weak-admin-{uuid.uuid4().hex[:8]}@example.org"
    assert _create_admin(monkeypatch, email, password) == 2
    error = capsys.readouterr().err
    assert message in error.lower() and "nothing was created" in error.lower()
    assert owner_session.exec(select(User).where(User.email == email)).first() is None


def test_create_admin_refuses_an_existing_email_in_any_case(
    owner_session, redis_url, monkeypatch, capsys
):
    existing = make_user(owner_session, role="distributor")
    before = owner_session.execute(text("SELECT count(*) FROM users")).scalar_one()
    assert _create_admin(monkeypatch, existing.email.upper(), STRONG_PASSWORD) == 2
    assert "already exists" in capsys.readouterr().err
    owner_session.refresh(existing)
    assert existing.role == "distributor", "an existing account is never promoted"
    assert owner_session.execute(text("SELECT count(*) FROM users")).scalar_one() == before


def test_create_admin_is_only_for_the_system(owner_session, redis_url):
    intruder = make_user(owner_session, role="admin")
    actor = Actor(user_id=intruder.id, role="admin", label=intruder.email)
    with pytest.raises(PermissionDenied):
        create_admin(
            session=owner_session, actor=actor, email="sneaky@example.org", password=STRONG_PASSWORD
        )
    owner_session.rollback()
    assert (
        owner_session.exec(
            select(func.count()).select_from(User).where(User.email == "sneaky@example.org")
        ).one()
        == 0
    )


def test_create_admin_without_a_terminal_asks_for_password_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["create-admin", "nobody@example.org"]) == 2
    assert "--password-stdin" in capsys.readouterr().err


def test_rotate_keys_command_reports_per_column(database_url, redis_url, capsys):
    assert main(["rotate-keys"]) == 0
    out = capsys.readouterr().out
    assert "user_profiles.tax_id_enc:" in out and "is now on key" in out
