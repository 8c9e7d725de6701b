"""The audit log's known actions and entity types: every one the code writes is registered.

The audit log's filters offer :data:`mlmcrm.services.platform.audit_actions.ACTIONS` and
:data:`~mlmcrm.services.platform.audit_actions.ENTITY_TYPES`. This test reads the source of every
``audit.record(...)`` call and works out what it can write: a literal, a choice between literals
(``a if x else b``), a module constant, an f-string of those, or a parameter whose callers (in
any module) pass one of those. What it cannot work out from the source is listed in
:data:`DYNAMIC` with the constants it comes from; a new call that writes something else fails
here until its action and entity type are registered.
"""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import mlmcrm
from mlmcrm.errors import ValidationFailed
from mlmcrm.services.commerce import autoship
from mlmcrm.services.network import genealogy_store
from mlmcrm.services.platform import audit, audit_actions
from mlmcrm.services.platform.actor import Actor

ROOT = Path(mlmcrm.__file__).resolve().parent
SOURCES = sorted([*ROOT.rglob("*.py"), *(ROOT.parent / "workers").rglob("*.py")])


def _export_names() -> set[str]:
    """The export names of the paged lists (their CSV export writes ``<name>.exported``)."""
    import mlmcrm.mlmcrm  # noqa: F401 - every page, so every paged list is defined
    from mlmcrm.state.paged_list import PagedListState

    found: set[str] = set()
    todo = list(PagedListState.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if getattr(cls, "export_name", ""):
            found.add(cls.export_name)
    return found


DYNAMIC: dict[tuple[str, str], Callable[[], Iterable[str]]] = {
    # A customer's or staff's change of an autoship: the service's own list of changes.
    ("mlmcrm/services/commerce/autoship.py", "action"): lambda: autoship.ACTIONS,
    # A move in either tree: the store's tree names.
    ("mlmcrm/services/network/genealogy.py", "tree"): lambda: genealogy_store.TREES,
    # The CSV export of every paged list.
    ("mlmcrm/state/paged_list.py", "self.export_name"): _export_names,
}
"""Values the source alone does not tell, from the constants that bound them."""


@dataclass(frozen=True)
class _Site:
    path: str
    tree: ast.Module
    function: ast.FunctionDef | ast.AsyncFunctionDef | None


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


class _Resolver:
    def __init__(self) -> None:
        self.modules: dict[str, ast.Module] = {}
        self.parents: dict[str, dict[ast.AST, ast.AST]] = {}
        self.calls: dict[str, list[tuple[str, ast.Call]]] = defaultdict(list)
        for source in SOURCES:
            path = source.relative_to(ROOT.parent).as_posix()
            module = ast.parse(source.read_text(), filename=path)
            self.modules[path], self.parents[path] = module, _parents(module)
            for node in ast.walk(module):
                if isinstance(node, ast.Call):
                    self.calls[_called(node)].append((path, node))

    def site(self, path: str, node: ast.AST) -> _Site:
        parent = self.parents[path].get(node)
        while parent is not None and not isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
            parent = self.parents[path].get(parent)
        return _Site(path, self.modules[path], parent)

    def values(self, node: ast.expr, site: _Site, depth: int = 0) -> set[str]:
        if depth > 6:
            raise LookupError("too deep")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.IfExp):
            return self.values(node.body, site, depth) | self.values(node.orelse, site, depth)
        if isinstance(node, ast.JoinedStr):
            parts: list[set[str]] = []
            for part in node.values:
                if isinstance(part, ast.FormattedValue):
                    parts.append(self.values(part.value, site, depth))
                else:
                    parts.append(self.values(part, site, depth))
            return {"".join(chosen) for chosen in itertools.product(*parts)}
        dynamic = DYNAMIC.get((site.path, ast.unparse(node)))
        if dynamic is not None:
            return set(dynamic())
        if isinstance(node, ast.Name):
            return self._name(node.id, site, depth)
        raise LookupError(f"{site.path}:{node.lineno}: cannot tell {ast.unparse(node)!r}")

    def _name(self, name: str, site: _Site, depth: int) -> set[str]:
        function = site.function
        if function is not None:
            arguments = function.args
            params = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            if any(param.arg == name for param in params):
                return self._parameter(name, site, depth)
        for statement in site.tree.body:
            if (
                isinstance(statement, ast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and statement.targets[0].id == name
            ):
                return self.values(statement.value, _Site(site.path, site.tree, None), depth + 1)
        raise LookupError(f"{site.path}: cannot tell {name!r}")

    def _parameter(self, name: str, site: _Site, depth: int) -> set[str]:
        function = site.function
        assert function is not None
        found: set[str] = set()
        arguments = function.args
        defaults = dict(
            zip(
                [a.arg for a in arguments.kwonlyargs],
                arguments.kw_defaults,
                strict=True,
            )
        )
        positional = [*arguments.posonlyargs, *arguments.args]
        defaults.update(
            zip(
                [a.arg for a in positional[len(positional) - len(arguments.defaults) :]],
                arguments.defaults,
                strict=True,
            )
        )
        if defaults.get(name) is not None:
            found |= self.values(defaults[name], site, depth + 1)  # type: ignore[arg-type]  # not None
        callers = self.calls.get(function.name, [])
        if not callers:
            raise LookupError(f"{site.path}: nothing calls {function.name}() to tell {name!r}")
        for path, call in callers:
            for keyword in call.keywords:
                if keyword.arg == name:
                    found |= self.values(keyword.value, self.site(path, call), depth + 1)
        return found


def _called(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _audit_calls(resolver: _Resolver) -> Iterator[tuple[_Site, ast.Call]]:
    for path, call in resolver.calls["record"]:
        func = call.func
        by_module = isinstance(func, ast.Attribute) and ast.unparse(func.value) == "audit"
        inside = path == "mlmcrm/services/platform/audit.py" and isinstance(func, ast.Name)
        if by_module or inside:
            yield resolver.site(path, call), call


def _written() -> tuple[set[str], set[str], int]:
    resolver = _Resolver()
    actions: set[str] = set()
    entities: set[str] = set()
    count = 0
    for site, call in _audit_calls(resolver):
        keywords = {keyword.arg: keyword.value for keyword in call.keywords}
        assert "action" in keywords and "entity_type" in keywords, (site.path, call.lineno)
        actions |= resolver.values(keywords["action"], site)
        entities |= resolver.values(keywords["entity_type"], site)
        count += 1
    return actions, entities, count


def test_every_action_and_entity_type_the_code_writes_is_registered():
    actions, entities, count = _written()
    assert count > 100, "the audit writes were found"
    assert actions - set(audit_actions.ACTIONS) == set(), "register these actions"
    assert entities - set(audit_actions.ENTITY_TYPES) == set(), "register these entity types"
    assert set(audit_actions.ACTIONS) - actions == set(), "nothing writes these any more"
    assert set(audit_actions.ENTITY_TYPES) - entities == set(), "nothing writes these any more"
    assert list(audit_actions.ACTIONS) == sorted(audit_actions.ACTIONS)
    assert list(audit_actions.ENTITY_TYPES) == sorted(audit_actions.ENTITY_TYPES)


def test_the_audit_filters_take_only_registered_values(owner_session):
    compliance = Actor(user_id=None, role="compliance")
    for filters, message in (
        (audit.AuditFilter(action="user."), "Choose an action from the list."),
        (audit.AuditFilter(action="user.login' OR 1=1"), "Choose an action from the list."),
        (audit.AuditFilter(entity_type="widget"), "Choose an entity type from the list."),
    ):
        with pytest.raises(ValidationFailed, match=message.replace(".", r"\.")):
            audit.search(session=owner_session, actor=compliance, filters=filters)
    rows, _ = audit.search(
        session=owner_session,
        actor=compliance,
        filters=audit.AuditFilter(action="user.login", entity_type="user"),
    )
    assert all(row.action == "user.login" and row.entity_type == "user" for row in rows)
