import pytest

from mlmcrm.errors import PermissionDenied
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.permissions import PERMISSIONS, ROLES, can, home_path, require


def test_every_permission_names_known_roles():
    for permission, roles in PERMISSIONS.items():
        assert roles, permission
        assert roles <= set(ROLES), permission


def test_distributor_has_the_back_office_but_no_company_view():
    distributor = Actor(user_id=1, role="distributor", distributor_id=1)
    assert can(distributor, "back_office.view")
    assert not can(distributor, "admin.view")
    with pytest.raises(PermissionDenied):
        require(distributor, "company.summary")


@pytest.mark.parametrize("role", ["admin", "finance", "compliance", "support"])
def test_staff_roles_see_the_company_but_not_the_distributor_back_office(role):
    staff = Actor(user_id=1, role=role)
    assert can(staff, "admin.view")
    assert not can(staff, "back_office.view")
    assert home_path(role) == "/admin"


def test_only_admin_manages_users_and_nobody_signed_out_holds_anything():
    assert can(Actor(user_id=1, role="admin"), "users.manage")
    assert not can(Actor(user_id=1, role="support"), "users.manage")
    assert not can(None, "back_office.view")
    with pytest.raises(PermissionDenied):
        require(None, "admin.view")


def test_only_paths_of_this_app_are_followed_after_login():
    from mlmcrm import routes

    assert routes.is_local_path("/admin/audit?since=2026-01-01")
    for outside in ("//evil.example", "/\\evil.example", "https://evil.example", "", None):
        assert not routes.is_local_path(outside)
        assert routes.with_next("/login/2fa", outside) == "/login/2fa"
    assert routes.with_next("/login/2fa", "/a?b=1&c=2") == "/login/2fa?next=/a%3Fb%3D1%26c%3D2"
