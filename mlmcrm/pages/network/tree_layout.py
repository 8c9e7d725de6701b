"""Where the genealogy diagram draws each box: a tidy tree laid out on the server.

The diagram (React Flow) draws boxes where it is told. The positions are computed here, in
Python, rather than by a layout library in the browser: the server already holds the part of
the tree that is open, a tree needs no general graph layout (dagre's strength is graphs with
crossing edges), and a page then receives boxes that are already placed, so it draws them at
once without a second pass after measuring.

The layout is the simple tidy tree: leaves are laid left to right in tree order, each parent is
centred over its first and last child, and each level sits one row below its parent. Every
subtree keeps to its own band of columns, so boxes and lines never cross.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BOX_WIDTH = 216
BOX_HEIGHT = 112
BINARY_BOX_HEIGHT = 150
COLUMN_GAP = 24
ROW_GAP = 72
SHOWN_AT_ONCE = 20
"""A wide level shows this many children, then a "show more" box adds as many again."""

OPEN_AT_FIRST = 200
"""A team is first shown opened level by level up to about this many people."""

PATH_OPENED = 100
"""A person found by search is shown down a path of at most this many levels: one deeper below
the diagram's top is shown from this many levels above them."""

SIDES = {1: "Left", 2: "Right"}


@dataclass
class Box:
    """One box of the diagram: a person, an open slot or a "show more" box."""

    key: str
    kind: str
    data: dict[str, Any]
    children: list[Box] = field(default_factory=list)


def person_key(distributor_id: int | str) -> str:
    """The diagram's key of a person's box."""
    return f"p{distributor_id}"


def more_key(parent_id: int | str) -> str:
    """The key of the "show more" box below ``parent_id``."""
    return f"m{parent_id}"


def slot_key(parent_id: int | str, slot: int) -> str:
    """The key of the open slot ``slot`` below ``parent_id``."""
    return f"s{parent_id}-{slot}"


def initials(name: str) -> str:
    """Up to two initials of a name ("Anna Maria Root" → "AR"), shown where a photo would be."""
    parts = [p for p in name.split() if p[:1].isalnum()]
    if not parts:
        return "?"
    if len(parts) == 1:
        return parts[0][:2].upper()
    return (parts[0][0] + parts[-1][0]).upper()


def slot_label(slot: int, *, binary: bool = True) -> str:
    """A slot as people say it: Left or Right in a binary tree, "Slot 3" in a matrix."""
    return SIDES.get(slot, f"Slot {slot}") if binary else f"Slot {slot}"


def build_boxes(
    root: str,
    *,
    people: Mapping[str, Mapping[str, Any]],
    children: Mapping[str, Sequence[str]],
    limits: Mapping[str, int],
    open_slots: Mapping[str, Sequence[int]],
    pinned: Sequence[str] = (),
    binary: bool = False,
    placement: bool | None = None,
) -> Box:
    """The open part of the tree as boxes, from the people and children the page has loaded.

    Args:
        root: The id of the person at the top.
        people: Each shown person's card (as the page keeps it) by id.
        children: The loaded children's ids (in slot order) of each expanded person.
        limits: How many of an expanded person's children are shown (the rest behind "more").
        open_slots: The free slots of each expanded person in the placement view.
        pinned: Ids shown, highlighted, even beyond their parent's limit (the path down to a
            person found by search).
        binary: Whether the legs' volumes and carry are shown and slots are Left and Right (the
            placement view of a binary plan).
        placement: Whether children and open slots stand in slot order (the placement view,
            binary or matrix); by default, as ``binary``.
    """
    in_slot_order = binary if placement is None else placement
    on_path = frozenset(pinned)

    def person(pid: str) -> Box:
        card = people[pid]
        kids = list(children.get(pid, ()))
        expanded = pid in children
        data = {
            "id": pid,
            "name": card["name"],
            "initials": initials(card["name"]),
            # The person's profile photo when they uploaded one; else the box shows initials.
            "photo": card.get("photo", ""),
            "rank": card["rank"],
            "pv": card["pv"],
            "gv": card["gv"],
            "active": card["active"] == "active",
            "children": int(card["children"] or 0),
            "expanded": expanded,
            "binary": binary,
            "slot": (
                slot_label(int(card["position"]), binary=binary)
                if card.get("position") and in_slot_order
                else ""
            ),
            "pinned": pid in on_path,
        }
        # Only a binary plan's boxes show the legs: the page sends no more than it shows.
        if binary:
            data.update(
                left=card["left"],
                right=card["right"],
                carry_left=card["carry_left"],
                carry_right=card["carry_right"],
            )
        box = Box(person_key(pid), "person", data)
        if not expanded:
            return box
        limit = limits.get(pid, SHOWN_AT_ONCE)
        shown = [k for i, k in enumerate(kids) if (i < limit or k in on_path) and k in people]
        box.children = [person(k) for k in shown]
        hidden = len(kids) - len(shown)
        if hidden > 0:
            box.children.append(
                Box(
                    more_key(pid),
                    "more",
                    {"parent": pid, "label": f"Show more ({hidden:,} not shown)"},
                )
            )
        for slot in open_slots.get(pid, ()):
            box.children.append(
                Box(
                    slot_key(pid, slot),
                    "slot",
                    {"parent": pid, "slot": slot, "label": slot_label(slot, binary=binary)},
                )
            )
        if in_slot_order:
            box.children.sort(key=lambda b: _slot_of(b, people))
        return box

    return person(root)


def _slot_of(box: Box, people: Mapping[str, Mapping[str, Any]]) -> int:
    if box.kind == "slot":
        return int(box.data["slot"])
    if box.kind == "person":
        return int(people[box.data["id"]].get("position") or 0)
    return 1_000


def layout(root: Box, *, binary: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """React Flow's nodes and edges for the boxes, placed as a tidy tree (see the module)."""
    height = BINARY_BOX_HEIGHT if binary else BOX_HEIGHT
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    next_column = 0.0
    # An explicit stack rather than recursion: a chain opened 500 levels deep stays drawable.
    stack: list[tuple[Box, int, bool]] = [(root, 0, False)]
    x_of: dict[str, float] = {}
    reading_order: dict[str, int] = {}
    while stack:
        box, depth, visited = stack.pop()
        if not visited:
            reading_order[box.key] = len(reading_order)
        if box.children and not visited:
            stack.append((box, depth, True))
            stack.extend((child, depth + 1, False) for child in reversed(box.children))
            continue
        if box.children:
            x = (x_of[box.children[0].key] + x_of[box.children[-1].key]) / 2
        else:
            x = next_column
            next_column += BOX_WIDTH + COLUMN_GAP
        x_of[box.key] = x
        nodes.append(
            {
                "id": box.key,
                "type": box.kind,
                "position": {"x": x, "y": depth * (height + ROW_GAP)},
                "data": box.data,
                "width": BOX_WIDTH,
                "height": height,
                "className": "genealogy-node" if box.kind == "person" else "genealogy-" + box.kind,
            }
        )
        for child in box.children:
            edges.append(
                {
                    "id": f"{box.key}>{child.key}",
                    "source": box.key,
                    "target": child.key,
                    "className": "genealogy-edge-" + child.kind,
                }
            )
    # Each parent before its children, as a person reads the tree (and a screen reader walks it).
    nodes.sort(key=lambda n: reading_order[n["id"]])
    edges.sort(key=lambda e: reading_order[e["target"]])
    return nodes, edges
