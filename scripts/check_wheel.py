"""Check that a built wheel holds every file of the package, data files included.

A wheel without its templates, static files or ``host/openapi.yaml`` installs
and then fails at the first message it renders, so CI builds one and runs
this on it::

    python scripts/check_wheel.py dist/wa_addon-*.whl

Exits 1 naming each file of ``wa_addon/`` that the wheel lacks.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "wa_addon"


def package_files(root: Path = PACKAGE) -> set[str]:
    """The package's files as wheel paths (``wa_addon/...``), caches left out."""
    return {
        path.relative_to(root.parent).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def missing_from(wheel: str | Path, root: Path = PACKAGE) -> list[str]:
    """The package files the wheel does not hold, sorted."""
    with zipfile.ZipFile(wheel) as archive:
        held = set(archive.namelist())
    return sorted(package_files(root) - held)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    missing = missing_from(argv[0])
    for name in missing:
        print(f"missing from the wheel: {name}", file=sys.stderr)
    if not missing:
        print(f"{argv[0]}: all {len(package_files())} package files inside")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
