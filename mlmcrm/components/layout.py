"""The app shell: a sidebar on wide screens, a top bar with a menu drawer on phones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.bell import bell
from mlmcrm.components.post_form import post_form
from mlmcrm.state.auth import AuthState
from mlmcrm.state.bell import BELL_PERMISSION, BellState


@dataclass(frozen=True)
class NavItem:
    """A link in the navigation; only a user holding ``permission`` sees it (empty: everyone)."""

    label: str
    icon: str
    href: str
    permission: str = ""


ACCOUNT_NAV = (
    NavItem("My account", "user-round", routes.ACCOUNT),
    NavItem("Notifications", "bell", routes.ACCOUNT_NOTIFICATIONS),
    NavItem("Devices", "monitor-smartphone", routes.ACCOUNT_SESSIONS),
    NavItem("API tokens", "key-round", routes.ACCOUNT_TOKENS),
)
DISTRIBUTOR_NAV = (
    NavItem("Home", "layout-dashboard", routes.DISTRIBUTOR_HOME),
    NavItem("My team", "network", routes.DISTRIBUTOR_TEAM),
    NavItem("Statement", "receipt-text", routes.DISTRIBUTOR_STATEMENT),
    NavItem("Wallet", "wallet", routes.DISTRIBUTOR_WALLET),
    NavItem("Identity and tax", "id-card", routes.DISTRIBUTOR_TAX),
    NavItem("Orders", "shopping-bag", routes.DISTRIBUTOR_ORDERS),
    NavItem("Customers", "contact", routes.DISTRIBUTOR_CUSTOMERS),
    NavItem("Today", "bell", routes.CRM_TODAY),
    NavItem("Contacts", "contact", routes.CRM),
    NavItem("Campaigns", "send", routes.CRM_CAMPAIGNS),
    *ACCOUNT_NAV,
)
STAFF_NAV = (
    NavItem("Overview", "building-2", routes.ADMIN_HOME),
    NavItem("Reports", "chart-line", routes.ADMIN_REPORTS, permission="reports.view"),
    NavItem("Commissions", "hand-coins", routes.ADMIN_COMMISSIONS, permission="commissions.read"),
    NavItem("Plan", "file-cog", routes.ADMIN_PLANS, permission="commissions.read"),
    NavItem("Payouts", "banknote", routes.ADMIN_PAYOUTS, permission="payouts.manage"),
    NavItem(
        "Income disclosure",
        "chart-column",
        routes.ADMIN_INCOME_DISCLOSURE,
        permission="commissions.read",
    ),
    NavItem("Tax forms", "file-text", routes.ADMIN_TAX, permission="payouts.manage"),
    NavItem("Identity checks", "id-card", routes.ADMIN_IDENTITY, permission="compliance.manage"),
    NavItem(
        "Compliance cases", "shield-alert", routes.ADMIN_COMPLIANCE, permission="compliance.manage"
    ),
    NavItem(
        "Compliance rules",
        "list-checks",
        routes.ADMIN_COMPLIANCE_RULES,
        permission="compliance.manage",
    ),
    NavItem("Users", "users", routes.ADMIN_USERS, permission="distributors.read"),
    NavItem("Genealogy", "network", routes.ADMIN_GENEALOGY),
    NavItem("Orders", "shopping-bag", routes.ADMIN_ORDERS, permission="orders.read"),
    NavItem("Products", "package", routes.ADMIN_PRODUCTS, permission="catalog.manage"),
    NavItem("Audit log", "scroll-text", routes.ADMIN_AUDIT, permission="audit.read"),
    NavItem(
        "Privacy requests", "shield-check", routes.ADMIN_PRIVACY, permission="compliance.manage"
    ),
    NavItem("Messages", "mail", routes.ADMIN_MESSAGES, permission="messaging.deliveries"),
    NavItem("CRM", "contact", routes.ADMIN_CRM, permission="crm.read_any"),
    *ACCOUNT_NAV,
)


def ready_marker() -> rx.Component:
    """An invisible element present once the page is live (hydrated and connected).

    Browser tests wait for it before they type, so a form is never submitted before its
    handlers are attached.
    """
    return rx.cond(
        rx.State.is_hydrated,
        rx.el.span(id="app-ready", hidden=True, aria_hidden="true"),
    )


def sign_out_form(*children: rx.Component | str, **button_props) -> rx.Component:  # type: ignore[no-untyped-def]  # Radix button props
    """A "Sign out" button: a plain form post, so the server can clear the HttpOnly cookie.

    The page then loads in full (the websocket reconnects without a session) and the login page
    forgets every state of the tab.
    """
    return post_form(
        rx.button(*(children or ("Sign out",)), type="submit", **button_props),
        action=routes.API_SESSION_LOGOUT,
        style={"width": "100%"} if button_props.get("width") == "100%" else {},
    )


def brand() -> rx.Component:
    """The product name and mark."""
    return rx.hstack(
        rx.icon("network", size=22, color=rx.color("accent", 10)),
        rx.heading("mlmcrm", size="5", weight="bold"),
        align="center",
        spacing="2",
    )


def _nav_link(item: NavItem) -> rx.Component:
    link = _nav_anchor(item)
    if not item.permission:
        return link
    return rx.cond(AuthState.user_permissions.contains(item.permission), link)


def _nav_anchor(item: NavItem) -> rx.Component:
    active = AuthState.router.url.path == item.href
    return rx.link(
        rx.hstack(
            rx.icon(item.icon, size=18),
            rx.text(item.label, size="3"),
            align="center",
            spacing="3",
            padding_x="0.75rem",
            padding_y="0.55rem",
            border_radius="var(--radius-3)",
            width="100%",
            background=rx.cond(active, rx.color("accent", 4), "transparent"),
            color=rx.cond(active, rx.color("accent", 11), rx.color("gray", 12)),
            _hover={"background": rx.color("accent", 3)},
        ),
        href=item.href,
        underline="none",
        width="100%",
    )


def _user_block() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.avatar(
                src=AuthState.user_photo_url,
                fallback=AuthState.user_name.to(str)[:1],
                size="2",
                radius="full",
                id="user-avatar",
            ),
            rx.vstack(
                rx.text(AuthState.user_name, size="2", weight="medium", trim="both"),
                rx.badge(AuthState.user_role, variant="soft", size="1"),
                spacing="1",
                align="start",
            ),
            align="center",
            spacing="2",
        ),
        rx.link(
            rx.text(
                "Times in ",
                AuthState.user_timezone.to(str).replace("_", " "),
                size="1",
                color=rx.color("gray", 10),
                id="reading-zone",
            ),
            href=routes.ACCOUNT,
            underline="hover",
            title="Change the time zone on your account page",
        ),
        sign_out_form(
            rx.icon("log-out", size=16),
            "Sign out",
            variant="soft",
            color_scheme="gray",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def _nav(items: Sequence[NavItem] | None) -> rx.Component:
    if items is None:
        back_office = AuthState.user_permissions.contains("back_office.view")
        return rx.cond(back_office, _nav(DISTRIBUTOR_NAV), _nav(STAFF_NAV))
    return rx.vstack(*[_nav_link(item) for item in items], spacing="1", width="100%")


def app_shell(content: rx.Component, *, title: str, nav: Sequence[NavItem] | None) -> rx.Component:
    """Wrap a page's content in the navigation layout.

    Args:
        content: The page body.
        title: The page title shown above the content.
        nav: The navigation of the page's role, or None for pages every role opens (the
            navigation then follows the signed-in user's role).
    """
    sidebar = rx.desktop_only(
        rx.vstack(
            brand(),
            rx.separator(),
            _nav(nav),
            rx.spacer(),
            _user_block(),
            height="100%",
            # A long navigation (staff with many permissions) scrolls inside the sidebar, so
            # the sign-out block at its foot is always reachable.
            overflow_y="auto",
            width="15rem",
            padding="1.25rem",
            border_right=f"1px solid {rx.color('gray', 5)}",
            background=rx.color("gray", 2),
            spacing="4",
        ),
        # The sidebar stays in view the whole height of the window however long the page is:
        # the sticky box is the one in the row, so it is not held inside a box of its own height.
        position="sticky",
        top="0",
        height="100vh",
        align_self="flex-start",
        id="sidebar",
    )
    topbar = rx.mobile_and_tablet(
        rx.hstack(
            brand(),
            rx.spacer(),
            rx.drawer.root(
                rx.drawer.trigger(
                    rx.icon_button(rx.icon("menu"), variant="ghost", aria_label="Open menu")
                ),
                rx.drawer.overlay(),
                rx.drawer.portal(
                    rx.drawer.content(
                        rx.vstack(
                            rx.hstack(
                                brand(),
                                rx.spacer(),
                                rx.drawer.close(
                                    rx.icon_button(
                                        rx.icon("x"), variant="ghost", aria_label="Close menu"
                                    )
                                ),
                                width="100%",
                            ),
                            _nav(nav),
                            rx.spacer(),
                            _user_block(),
                            height="100%",
                            spacing="4",
                        ),
                        height="100%",
                        width="17rem",
                        padding="1.25rem",
                        background=rx.color("gray", 1),
                    )
                ),
                direction="left",
            ),
            align="center",
            width="100%",
            padding="0.75rem 1rem",
            border_bottom=f"1px solid {rx.color('gray', 5)}",
            position="sticky",
            top="0",
            z_index="10",
            background=rx.color("gray", 1),
        )
    )
    return rx.flex(
        ready_marker(),
        sidebar,
        rx.box(
            topbar,
            rx.box(
                rx.hstack(
                    rx.heading(title, size="7"),
                    rx.spacer(),
                    rx.cond(
                        AuthState.user_permissions.contains(BELL_PERMISSION),
                        # Loaded by the page's opening; sent from here only when it was not.
                        rx.cond(BellState.loaded, bell(), rx.box(bell(), on_mount=BellState.load)),
                    ),
                    align="center",
                    width="100%",
                    margin_bottom="1.25rem",
                ),
                content,
                padding=["1rem", "1rem", "1.5rem", "2rem"],
                max_width="80rem",
                class_name="app-content",
            ),
            flex="1",
            min_width="0",
        ),
        direction="row",
        min_height="100vh",
    )


def stat_card(
    label: str,
    value: rx.Var | str,
    hint: rx.Var | str = "",
    icon: str = "",
    *,
    value_id: str | None = None,
) -> rx.Component:
    """A card with one figure (``value_id`` names the figure's element for tests and links)."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(label, size="2", color=rx.color("gray", 11)),
                rx.spacer(),
                rx.icon(icon, size=16, color=rx.color("gray", 10)) if icon else rx.fragment(),
                width="100%",
            ),
            rx.text(value, size="6", weight="bold", id=value_id),
            rx.text(hint, size="1", color=rx.color("gray", 10)),
            spacing="1",
            align="start",
        ),
        width="100%",
    )
