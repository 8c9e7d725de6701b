import re
from pathlib import Path

import pytest

from mlmcrm.errors import PermissionDenied
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.permissions import (
    ACTOR_ROLES,
    PERMISSIONS,
    ROLES,
    SYSTEM_ROLE,
    can,
    home_path,
    require,
)


def test_every_permission_names_known_roles():
    for permission, roles in PERMISSIONS.items():
        assert roles, permission
        assert roles <= set(ACTOR_ROLES), permission


def test_distributor_has_the_back_office_but_no_company_view():
    distributor = Actor(user_id=1, role="distributor", distributor_id=1)
    assert can("back_office.view", actor=distributor)
    assert not can("admin.view", actor=distributor)
    with pytest.raises(PermissionDenied):
        require("company.summary", actor=distributor)


@pytest.mark.parametrize("role", ["admin", "finance", "compliance", "support"])
def test_staff_roles_see_the_company_but_not_the_distributor_back_office(role):
    staff = Actor(user_id=1, role=role)
    assert can("admin.view", actor=staff)
    assert not can("back_office.view", actor=staff)
    assert home_path(role) == "/admin"


def test_only_admin_manages_users_and_nobody_signed_out_holds_anything():
    assert can("users.manage", actor=Actor(user_id=1, role="admin"))
    assert not can("users.manage", actor=Actor(user_id=1, role="support"))
    assert not can("back_office.view", actor=None)
    with pytest.raises(PermissionDenied):
        require("admin.view", actor=None)


def test_only_paths_of_this_app_are_followed_after_login():
    from mlmcrm import routes

    assert routes.is_local_path("/admin/audit?since=2026-01-01")
    for outside in ("//evil.example", "/\\evil.example", "https://evil.example", "", None):
        assert not routes.is_local_path(outside)
        assert routes.with_next("/login/2fa", outside) == "/login/2fa"
    assert routes.with_next("/login/2fa", "/a?b=1&c=2") == "/login/2fa?next=/a%3Fb%3D1%26c%3D2"


def test_the_system_is_an_entry_of_the_map_and_holds_only_what_it_is_granted():
    system = Actor.system("test")
    assert system.role == SYSTEM_ROLE and SYSTEM_ROLE not in ROLES
    held = {permission for permission, roles in PERMISSIONS.items() if SYSTEM_ROLE in roles}
    assert held == {
        "orders.place_any",
        "customers.add_any",
        "admins.bootstrap",
        "commissions.estimate",
        "commissions.open_period",
    }
    assert not can("account.self", actor=system) and not can("back_office.view", actor=system)


def test_only_the_system_creates_the_first_admin_and_only_staff_must_use_two_factor():
    assert can("admins.bootstrap", actor=Actor.system("cli"))
    assert not any(can("admins.bootstrap", actor=Actor(user_id=1, role=role)) for role in ROLES)
    assert PERMISSIONS["two_factor.required"] == {"admin", "finance", "compliance", "support"}


ROLE_COMPARISON = re.compile(
    r"\.role\s*(==|!=)\s*[\"']|\.role\s+(not\s+)?in\s+[\(\[{]|role\s*(==|!=)\s*[\"']"
)


def test_no_role_is_compared_by_name_outside_the_permission_map():
    root = Path(__file__).resolve().parents[3] / "mlmcrm"
    offenders = []
    for folder in ("services", "pages", "state", "api", "components"):
        for path in sorted((root / folder).rglob("*.py")):
            if path.name == "permissions.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if ROLE_COMPARISON.search(line.split("#", 1)[0]):
                    offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []
