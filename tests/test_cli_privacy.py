"""``python -m mlmcrm reapply-erasures``: run after every restore, it erases again whoever a
restored backup brought back."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mlmcrm.cli import build_parser, main
from mlmcrm.services.compliance import privacy
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user


def test_reapply_erasures_has_help_saying_it_runs_after_every_restore(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["reapply-erasures", "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "usage:" in out and "after every restore" in out.lower()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    assert "reapply-erasures" in capsys.readouterr().out


def test_reapply_erasures_erases_again_what_a_restore_brought_back(
    owner_session, database_url, redis_url, capsys
):
    person = make_user(owner_session, first_name="Restored", last_name="Person")
    email = person.email
    privacy.erase_person(session=owner_session, user_id=person.id, actor=Actor.system("test"))
    owner_session.commit()
    assert main(["reapply-erasures"]) == 0
    assert "0 erasure(s) re-applied" in capsys.readouterr().out

    # The restore: the backup predates the erasure.
    owner_session.execute(
        text("UPDATE users SET email = :email, status = 'active' WHERE id = :u"),
        {"email": email, "u": person.id},
    )
    owner_session.execute(
        text("UPDATE user_profiles SET first_name = 'Restored' WHERE user_id = :u"),
        {"u": person.id},
    )
    owner_session.commit()
    assert main(["reapply-erasures"]) == 0
    assert capsys.readouterr().out.startswith("1 erasure(s) re-applied")
    owner_session.commit()
    row = owner_session.execute(
        text(
            "SELECT u.email, u.status, p.first_name FROM users u"
            " JOIN user_profiles p ON p.user_id = u.id WHERE u.id = :u"
        ),
        {"u": person.id},
    ).one()
    assert tuple(row) == (f"erased-{person.id}@erased.invalid", "disabled", None)
    actor = owner_session.execute(
        text(
            "SELECT actor_label FROM audit_logs WHERE action = 'privacy.person_erased'"
            " AND entity_id = :u ORDER BY id DESC LIMIT 1"
        ),
        {"u": str(person.id)},
    ).scalar_one()
    assert actor == "cli reapply-erasures"
