"""``make lint`` keeps the structure: a forbidden import, a cycle, a type error or an ignore without
a reason fails it. Each check runs on a copy of the code with one such mistake put in."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _copy_project(target: Path) -> Path:
    skip = shutil.ignore_patterns("__pycache__", ".web", "*.pyc")
    for folder in ("mlmcrm", "workers"):
        shutil.copytree(ROOT / folder, target / folder, ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache", "--no-logo"],
        cwd=project,
        env={"PATH": str(BIN), "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return _copy_project(tmp_path_factory.mktemp("project"))


def test_the_code_as_it_is_keeps_every_contract(project):
    result = _lint_imports(project)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("file", "line", "contract"),
    [
        (
            "mlmcrm/services/platform/jobs.py",
            "import workers.jobs  # noqa",
            "Nothing but the CLI imports the workers",
        ),
        ("mlmcrm/services/crm/tasks.py", "import reflex  # noqa", "never import Reflex"),
        ("mlmcrm/services/crm/tasks.py", "import mlmcrm.pages.crm.today  # noqa", "layers"),
        ("mlmcrm/api/v1.py", "import mlmcrm.state.auth  # noqa", "never pages, state"),
        ("mlmcrm/engine/plan.py", "import mlmcrm.settings  # noqa", "imports nothing of the app"),
        ("mlmcrm/integrations/email.py", "import mlmcrm.services.platform.audit  # noqa", "layers"),
        ("mlmcrm/services/platform/audit.py", "import mlmcrm.services.crm.crm  # noqa", "Domain"),
        ("mlmcrm/api/token_auth.py", "import mlmcrm.api.v1  # noqa", "No import cycles"),
        ("workers/account_jobs.py", "import workers.jobs  # noqa", "No import cycles"),
        ("mlmcrm/pages/crm/today.py", "import mlmcrm.db  # noqa", "only through guarded handlers"),
        (
            "mlmcrm/services/messaging/outbox.py",
            "import mlmcrm.services.accounts.auth  # noqa",
            "Domain",
        ),
    ],
)
def test_a_forbidden_import_or_a_cycle_breaks_a_contract(tmp_path, file, line, contract):
    project = _copy_project(tmp_path)
    _add_line(project / file, line)
    result = _lint_imports(project)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.rstrip().endswith("BROKEN")]
    assert any(contract in row for row in broken) or contract in result.stdout.split("Broken")[-1]


def test_a_type_error_in_a_checked_layer_fails_mypy(tmp_path):
    project = _copy_project(tmp_path)
    _add_line(project / "mlmcrm/services/platform/money.py", 'WRONG: int = "not a number"')
    result = subprocess.run(
        [str(BIN / "mypy"), "--follow-imports=silent", "mlmcrm/services/platform/money.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0
    assert "money.py" in result.stdout and "[assignment]" in result.stdout


def test_an_ignore_without_a_reason_is_refused(tmp_path):
    checker = ROOT / ".ci" / "check_type_ignores.py"
    sample = tmp_path / "sample.py"
    sample.write_text(
        "a = f()  # type: ignore[arg-type]  # the row is flushed\n"
        "b = f()  # type: ignore[arg-type]\n"
        "c = f()  # type: ignore\n"
    )
    result = subprocess.run(
        [sys.executable, str(checker), str(sample)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert ":2: say why" in result.stdout and ":3: give the error code" in result.stdout
    assert ":1:" not in result.stdout


# --- pages: one way to reach data, one table, one poller ---------------------------------------

_HAND_BUILT = ("session_scope", "except DomainError", "rx.table.root", "asyncio.sleep")


def _hand_built_pages() -> set[str]:
    pages = ROOT / "mlmcrm" / "pages"
    return {
        str(path.relative_to(pages))
        for path in pages.rglob("*.py")
        if any(needle in path.read_text(encoding="utf-8") for needle in _HAND_BUILT)
    }


def test_pages_reach_data_only_through_guarded_handlers_and_the_shared_blocks():
    """No page opens its own unit of work, catches DomainError, builds a table or polls a job.

    Use @guarded (or @visitor), PagedListState with data_table (or simple_table), and
    JobPollerState (see docs/pages.md).
    """
    assert _hand_built_pages() == set(), "use @guarded, PagedListState, data_table"


def test_tables_and_pollers_outside_pages_are_only_the_shared_ones():
    found = {
        str(path.relative_to(ROOT))
        for folder in ("components", "state")
        for path in (ROOT / "mlmcrm" / folder).rglob("*.py")
        if any(n in path.read_text(encoding="utf-8") for n in ("rx.table.root", "asyncio.sleep"))
    }
    assert found == {"mlmcrm/components/data_table.py", "mlmcrm/state/job_poller.py"}


KEYWORD_ONLY = ("session", "actor")


def _functions_of(module: ModuleType) -> Iterator[tuple[str, Any]]:
    """Every function and method defined in ``module``, by qualified name."""

    def members(owner: Any, prefix: str) -> Iterator[tuple[str, Any]]:
        for name, value in vars(owner).items():
            if name == "__init__" and dataclasses.is_dataclass(owner):
                continue  # generated from the fields of a record, not a service function
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            elif isinstance(value, property):
                value = value.fget
            if inspect.isclass(value) and value.__module__ == module.__name__:
                if value.__qualname__ == f"{prefix}{name}":
                    yield from members(value, f"{prefix}{name}.")
            elif inspect.isfunction(value) and value.__module__ == module.__name__:
                yield f"{module.__name__}.{value.__qualname__}", value

    yield from members(module, "")


def _positional_session_or_actor(module: ModuleType) -> list[str]:
    offenders = []
    for name, function in _functions_of(module):
        for parameter in inspect.signature(function).parameters.values():
            if parameter.name in KEYWORD_ONLY and parameter.kind not in (
                inspect.Parameter.KEYWORD_ONLY,
                inspect.Parameter.VAR_KEYWORD,
            ):
                offenders.append(f"{name} ({parameter.name})")
    return offenders


def _service_modules() -> Iterator[ModuleType]:
    import mlmcrm.services

    yield mlmcrm.services
    for info in pkgutil.walk_packages(mlmcrm.services.__path__, "mlmcrm.services."):
        yield importlib.import_module(info.name)


def test_service_functions_take_session_and_actor_by_keyword_only():
    modules = list(_service_modules())
    assert len(modules) > 40
    offenders = [name for module in modules for name in _positional_session_or_actor(module)]
    assert not offenders, (
        "session and actor are keyword-only in service functions (after `*`): "
        + ", ".join(offenders)
    )


def test_a_positional_session_or_actor_is_named(monkeypatch):
    module = ModuleType("sample_service")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(  # noqa: S102 - a fixed sample
        "import dataclasses\n"
        "@dataclasses.dataclass\n"
        "class Row:\n"
        "    actor: str\n"
        "class Box:\n"
        "    def put(self, session, item): ...\n"
        "    @staticmethod\n"
        "    def take(item, *, session, actor): ...\n"
        "def find(actor, item_id, *, session): ...\n"
        "def count(*, session, actor): ...\n",
        module.__dict__,
    )
    assert _positional_session_or_actor(module) == [
        "sample_service.Box.put (session)",
        "sample_service.find (actor)",
    ]


def test_tests_run_coroutines_through_the_shared_helper():
    """``asyncio.run`` fails in any test collected after the browser tests (their loop runs on)."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.name != "aio.py" and "asyncio" + ".run(" in path.read_text(encoding="utf-8")
    ]
    assert not offenders, f"use tests.aio.run instead of asyncio.run in {offenders}"
