"""The genealogy pages: ``/team`` for distributors, ``/admin/genealogy`` for staff.

A tree diagram (the sponsor tree as an org chart, the placement tree with its legs, volumes,
carry and open slots; pan and zoom, lazy expand, search that centres a person, the outer legs'
ends, placing from the holding tank in an open slot; upline breadcrumbs), a downline table
with filters, "More" rows in level order and an audited CSV export, the holding tank, and for
admins moves, terminations and the placement settings.
"""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.data_table import capped_list, simple_table
from mlmcrm.components.diagram import genealogy_diagram
from mlmcrm.components.forms import (
    error_message,
    labelled_input,
    labelled_select,
    notice_message,
    section,
)
from mlmcrm.components.layout import DISTRIBUTOR_NAV, STAFF_NAV, app_shell
from mlmcrm.pages.network.genealogy_state import DOWNLINE_COLUMNS, GenealogyState

S = GenealogyState


def _slot_chooser() -> rx.Component:
    """Whom to place in the open slot the sponsor tapped: the people in their holding tank."""
    return rx.cond(
        S.slot_choice.length() > 0,
        rx.card(
            rx.vstack(
                rx.heading("Place someone: " + S.slot_choice["label"], size="3"),
                rx.text("Who from your holding tank goes in this slot?", size="2"),
                capped_list(
                    S.tank,
                    lambda w: rx.hstack(
                        rx.text(w["name"] + " (" + w["code"] + ")", size="2"),
                        rx.button(
                            "Place here",
                            size="1",
                            on_click=S.place_in_slot(w["id"]),
                            aria_label="Place " + w["name"] + " here",
                            class_name="touch-target",
                        ),
                        align="center",
                        wrap="wrap",
                    ),
                ),
                rx.button("Cancel", variant="soft", on_click=S.cancel_slot),
                spacing="2",
            ),
            id="slot-chooser",
            width="100%",
        ),
    )


def _outer_legs() -> rx.Component:
    return rx.cond(
        (S.tree == "placement") & S.binary,
        rx.hstack(
            rx.button(
                rx.icon("arrow-down-left", size=14),
                "Bottom of the outer left leg",
                variant="soft",
                size="2",
                on_click=S.outer_leg("left"),
                class_name="touch-target",
            ),
            rx.button(
                rx.icon("arrow-down-right", size=14),
                "Bottom of the outer right leg",
                variant="soft",
                size="2",
                on_click=S.outer_leg("right"),
                class_name="touch-target",
            ),
            wrap="wrap",
            spacing="2",
        ),
    )


def _viewer() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.segmented_control.root(
                rx.segmented_control.item("Sponsor (unilevel)", value="sponsor"),
                rx.segmented_control.item(
                    rx.cond(S.binary, "Placement (binary)", "Placement (matrix)"),
                    value="placement",
                ),
                value=S.tree,
                on_change=S.set_tree,
            ),
            rx.form(
                rx.hstack(
                    rx.input(
                        name="query",
                        placeholder="Name or code",
                        aria_label="Search your team",
                        id="genealogy-search",
                    ),
                    rx.button("Search", type="submit", variant="soft"),
                ),
                on_submit=S.search,
                reset_on_submit=False,
            ),
            wrap="wrap",
            spacing="3",
            width="100%",
        ),
        rx.cond(
            S.found.length() > 0,
            rx.hstack(
                rx.foreach(
                    S.found,
                    lambda f: rx.button(
                        f["name"] + " (" + f["code"] + ")",
                        size="1",
                        variant="outline",
                        on_click=S.find(f["id"]),
                    ),
                ),
                wrap="wrap",
                spacing="2",
            ),
        ),
        rx.hstack(
            rx.foreach(
                S.crumbs,
                lambda c: rx.hstack(
                    rx.link(c["name"], on_click=S.jump(c["id"]), cursor="pointer", size="2"),
                    rx.text("›", color=rx.color("gray", 9)),
                    spacing="1",
                ),
            ),
            wrap="wrap",
            spacing="1",
            aria_label="Upline",
        ),
        rx.hstack(
            rx.foreach(
                S.counts,
                lambda c: rx.badge("L" + c["level"] + ": " + c["count"], variant="soft"),
            ),
            wrap="wrap",
            spacing="1",
        ),
        _outer_legs(),
        _slot_chooser(),
        rx.text(
            "Drag to move, pinch or scroll to zoom, tap a person to open their team.",
            size="1",
            color=rx.color("gray", 10),
        ),
        genealogy_diagram(
            S.diagram_nodes,
            S.diagram_edges,
            S.view,
            S.tap_node,
            id="genealogy-tree",
            width="100%",
            height=rx.breakpoints(initial="70vh", md="640px"),
            border=f"1px solid {rx.color('gray', 6)}",
            border_radius="var(--radius-3)",
            overflow="hidden",
        ),
        spacing="3",
        width="100%",
    )


def _table() -> rx.Component:
    filters = rx.form(
        rx.grid(
            labelled_input("From level", "level_from", id="f-level-from", type="number"),
            labelled_input("To level", "level_to", id="f-level-to", type="number"),
            labelled_select("Rank", "rank", S.rank_options, any_label="Any rank", id="f-rank"),
            labelled_select(
                "Account",
                "active",
                (("yes", "Account active"), ("no", "Suspended or terminated")),
                any_label="Any",
                id="f-active",
            ),
            labelled_input("Joined from", "joined_from", id="f-joined-from", type="date"),
            labelled_input("Joined before", "joined_to", id="f-joined-to", type="date"),
            labelled_input("Name", "name", id="f-name"),
            columns=rx.breakpoints(initial="1", sm="2", lg="4"),
            spacing="3",
            width="100%",
        ),
        rx.hstack(
            rx.button("Show downline", type="submit"),
            rx.button(
                rx.icon("download", size=14),
                "Export CSV",
                type="button",
                variant="soft",
                on_click=S.export,
                class_name="touch-target",
            ),
            margin_top="0.75rem",
        ),
        on_submit=S.filter_table,
        reset_on_submit=False,
    )
    table = simple_table(
        DOWNLINE_COLUMNS,
        S.table,
        row_id="downline-row-",
        actions=lambda r: rx.button(
            "Show",
            size="1",
            variant="soft",
            on_click=S.jump(r["id"]),
            class_name="touch-target",
            aria_label="Show " + r["name"] + " in the tree",
        ),
        actions_label="In the tree",
        empty_text="Nobody to show yet: choose the filters and show the downline.",
        table_id="downline-table",
    )
    return section(
        "Downline",
        rx.text("Below ", rx.text.strong(S.focus["name"]), ", in level order.", size="2"),
        filters,
        table,
        rx.cond(
            S.more,
            rx.button("More", variant="soft", on_click=S.next_page, class_name="touch-target"),
        ),
    )


def _tank() -> rx.Component:
    return rx.cond(
        S.tank.length() > 0,
        section(
            "Holding tank",
            rx.text(
                "New enrolees waiting to be placed; after the date shown they are placed"
                " automatically.",
                size="2",
            ),
            capped_list(
                S.tank,
                lambda w: rx.text(
                    w["name"] + " — id " + w["id"] + " — until " + w["place_by"], size="2"
                ),
                id="holding-tank",
            ),
            rx.form(
                rx.grid(
                    labelled_input("Person (id)", "person", id="tank-person"),
                    labelled_input("Parent (id)", "parent", id="tank-parent"),
                    labelled_input("Slot (left, right or a number)", "slot", id="tank-slot"),
                    columns=rx.breakpoints(initial="1", sm="3"),
                    spacing="3",
                    width="100%",
                ),
                rx.button("Place", type="submit", margin_top="0.5rem"),
                on_submit=S.place,
                reset_on_submit=True,
            ),
        ),
    )


def _admin_tools() -> rx.Component:
    move = section(
        "Move a person with their team",
        rx.form(
            rx.grid(
                rx.vstack(
                    rx.el.label("Tree", html_for="move-tree"),
                    rx.el.select(
                        rx.el.option("Sponsor tree", value="sponsor"),
                        rx.el.option("Placement tree", value="placement"),
                        name="tree",
                        id="move-tree",
                    ),
                    spacing="1",
                ),
                labelled_input("Person (id)", "person", id="move-person"),
                labelled_input("New parent (id)", "new_parent", id="move-parent"),
                labelled_input("Slot (placement)", "slot", id="move-slot", type="number"),
                columns=rx.breakpoints(initial="1", sm="2", lg="4"),
                spacing="3",
                width="100%",
            ),
            rx.button("Preview", type="submit", margin_top="0.5rem"),
            on_submit=S.preview_move,
            reset_on_submit=False,
        ),
        rx.cond(
            S.pending_move.length() > 0,
            rx.vstack(
                rx.text(
                    S.preview["people"]
                    + " people move, with "
                    + S.preview["volume"]
                    + " PV this period.",
                    id="move-preview",
                ),
                rx.text("Lose that volume: " + S.preview["losing"], size="2"),
                rx.text("Gain that volume: " + S.preview["gaining"], size="2"),
                rx.form(
                    labelled_input("Reason (required)", "reason", id="move-reason"),
                    rx.button("Confirm the move", type="submit", color_scheme="orange"),
                    on_submit=S.confirm_move,
                    reset_on_submit=True,
                ),
                spacing="2",
                width="100%",
            ),
        ),
    )
    status = section(
        "Terminate or reinstate",
        rx.text(
            "Terminating moves the person's personally sponsored distributors up to their"
            " sponsor; in the placement tree they stay as a placeholder. Reinstating undoes it.",
            size="2",
        ),
        rx.form(
            rx.grid(
                labelled_input("Distributor (id)", "person", id="status-person"),
                rx.vstack(
                    rx.el.label("Action", html_for="status-action"),
                    rx.el.select(
                        rx.el.option("Terminate", value="terminate"),
                        rx.el.option("Reinstate", value="reinstate"),
                        name="action",
                        id="status-action",
                    ),
                    spacing="1",
                ),
                labelled_input("Reason (required)", "reason", id="status-reason"),
                columns=rx.breakpoints(initial="1", sm="3"),
                spacing="3",
                width="100%",
            ),
            rx.button("Apply", type="submit", color_scheme="red", margin_top="0.5rem"),
            on_submit=S.change_status,
            reset_on_submit=True,
        ),
    )
    settings = section(
        "Placement settings",
        rx.form(
            rx.grid(
                rx.vstack(
                    rx.el.label("Placement tree", html_for="set-tree"),
                    rx.el.select(
                        rx.el.option("Binary", value="binary"),
                        rx.el.option("Matrix", value="matrix"),
                        name="placement_tree",
                        id="set-tree",
                        value=S.settings["placement_tree"],
                    ),
                    spacing="1",
                ),
                labelled_input(
                    "Matrix width",
                    "matrix_width",
                    id="set-width",
                    default_value=S.settings["matrix_width"],
                ),
                rx.vstack(
                    rx.el.label("Automatic binary placement", html_for="set-spillover"),
                    rx.el.select(
                        rx.el.option("Outer left leg", value="outer_left"),
                        rx.el.option("Outer right leg", value="outer_right"),
                        rx.el.option("Weaker leg", value="weaker_leg"),
                        name="spillover",
                        id="set-spillover",
                        value=S.settings["spillover"],
                    ),
                    spacing="1",
                ),
                labelled_input(
                    "Holding tank days (0: place at once)",
                    "holding_tank_days",
                    id="set-days",
                    default_value=S.settings["holding_tank_days"],
                ),
                labelled_input(
                    "Company sponsor code (empty: the root)",
                    "company_sponsor_code",
                    id="set-sponsor",
                    default_value=S.settings["company_sponsor_code"],
                ),
                columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                spacing="3",
                width="100%",
            ),
            rx.button("Save settings", type="submit", margin_top="0.5rem"),
            on_submit=S.save_settings,
            reset_on_submit=False,
        ),
    )
    enrol = section(
        "Enrol a distributor here",
        rx.text(
            "Enrol someone under ",
            rx.text.strong(S.chosen["name"], id="enrol-under"),
            " (the person last shown or found), choosing the slot; they confirm by email and "
            "are placed then.",
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.hstack(
            *[
                rx.link(
                    rx.button(label, variant="soft", class_name="touch-target"),
                    href=rx.Var.create(routes.ADMIN_ENROL)
                    + "?sponsor="
                    + S.chosen["code"].to(str)
                    + "&parent="
                    + S.chosen["code"].to(str)
                    + ("&slot=" + slot if slot else ""),
                    id=f"enrol-here-{slot or 'auto'}",
                )
                for label, slot in (
                    ("Left (slot 1)", "1"),
                    ("Right (slot 2)", "2"),
                    ("Automatic", ""),
                )
            ],
            wrap="wrap",
        ),
    )
    return rx.cond(
        S.can_manage, rx.vstack(enrol, move, status, settings, spacing="4", width="100%")
    )


def _content() -> rx.Component:
    return rx.vstack(
        error_message(S.error),
        notice_message(S.message),
        _viewer(),
        _table(),
        _tank(),
        _admin_tools(),
        spacing="4",
        width="100%",
    )


def team_page() -> rx.Component:
    """``/team``: the distributor's own downline."""
    return app_shell(_content(), title="My team", nav=DISTRIBUTOR_NAV)


def admin_genealogy_page() -> rx.Component:
    """``/admin/genealogy``: anyone's downline; admins change the trees."""
    return app_shell(_content(), title="Genealogy", nav=STAFF_NAV)
