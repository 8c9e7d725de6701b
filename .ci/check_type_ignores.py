"""Refuse a ``# type: ignore`` without an error code and a reason on the same line.

    python .ci/check_type_ignores.py [PATH ...]    (default: the project's Python folders)

A reason is a comment after the ignore: ``x = f()  # type: ignore[arg-type]  # why``. Prints each
offending line and exits with 1 when there is one.
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = ("mlmcrm", "workers", "tests", "benchmarks", "alembic", ".ci", "rxconfig.py")
IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<code>\[[^\]]*\])?(?P<rest>.*)$")
REASON = re.compile(r"^\s*#\s*\S")


def problems(path: Path) -> list[str]:
    """The lines of ``path`` whose ``type: ignore`` comment lacks a code or a reason."""
    found = []
    source = path.read_text(encoding="utf-8")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        match = IGNORE.search(token.string)
        if match is None:
            continue
        number = token.start[0]
        if not match.group("code"):
            found.append(f"{path}:{number}: give the error code: # type: ignore[code]  # why")
        elif not REASON.match(match.group("rest")):
            found.append(f"{path}:{number}: say why after it: # type: ignore[...]  # why")
    return found


def main(argv: list[str]) -> int:
    """Check the given paths (files or folders); return 1 when an ignore lacks its reason."""
    roots = [Path(a) for a in argv] or [ROOT / p for p in DEFAULT_PATHS]
    files = []
    for root in roots:
        if root.is_dir():
            files += sorted(p for p in root.rglob("*.py") if ".web" not in p.parts)
        elif root.exists():
            files.append(root)
    found = [problem for path in files for problem in problems(path)]
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
