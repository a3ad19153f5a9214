"""The house: a platform is seven parts in Airflow's folders, the shared layer names no platform, imports
run downwards only, and no module grows past ~350 lines (docs/development.md, "Layout").

A part is one module (``hooks/tia.py``) or, for a platform with several API families (TI-ONE: training,
model repository, online services), one package of that name with a module per family
(``hooks/tione/``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.helpers.support import ROOT

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE = ROOT / "airflow_provider_tia"
PLATFORMS = ("tia", "tione")
PARTS = ("models", "hooks", "operators", "triggers", "sensors", "links")
# "About 350": one module is a little longer (operators/tione/deploy.py: a rollout's Airflow side, its
# start, resume, rollback and kill, in one place).
MAX_LINES = 370
# Lower layers first: a module may import its own layer or a lower one, never a higher one.
LAYERS = (
    ("exceptions", "secrets", "connection_id", "lazy_exports", "choices", "models"),
    ("lifecycle", "ending", "logs", "dialogue", "staging", "lineage", "hooks"),
    ("links",),
    ("triggers", "task_base"),
    ("operators", "sensors"),
)


def provider_modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "emulator" not in p.relative_to(PACKAGE).parts]


def part_exists(part: str, platform: str) -> bool:
    """``<part>/<platform>.py`` or the package ``<part>/<platform>/``, never both."""
    module, package = PACKAGE / part / f"{platform}.py", PACKAGE / part / platform / "__init__.py"
    return module.is_file() != package.is_file()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_platform_is_one_module_per_part_and_one_emulator_folder(platform: str) -> None:
    missing = [part for part in PARTS if not part_exists(part, platform)]
    assert not missing
    assert (PACKAGE / "emulator" / platform / "__init__.py").is_file()


def test_no_platform_module_lives_outside_its_parts() -> None:
    def names_a_platform(rel: Path) -> bool:
        parts = rel.with_suffix("").parts
        return any(part == pl or part.startswith(f"{pl}_") for part in parts for pl in PLATFORMS)

    def inside_a_part(rel: Path) -> bool:
        return len(rel.parts) >= 2 and rel.parts[0] in PARTS and rel.parts[1].removesuffix(".py") in PLATFORMS

    relative = [p.relative_to(PACKAGE) for p in provider_modules()]
    outside = sorted(r.as_posix() for r in relative if names_a_platform(r) and not inside_a_part(r))
    assert not outside, f"platform modules outside the seven parts: {outside}"


def layer_of(module: str) -> int | None:
    top = module.split(".")[1] if module.count(".") else ""
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    return None


def test_imports_run_downwards_only() -> None:
    upward = []
    for path in provider_modules():
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        here = layer_of(".".join(rel.parts))
        if here is None:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith(PACKAGE.name + ".")
            ):
                there = layer_of(node.module)
                if there is not None and there > here and not _type_checking_only(path, node):
                    upward.append(f"{rel.as_posix()} -> {node.module}")
    assert not upward


def _type_checking_only(path: Path, node: ast.ImportFrom) -> bool:
    """Whether the import sits under ``if TYPE_CHECKING:`` (no import at run time)."""
    tree = ast.parse(path.read_text())
    for block in ast.walk(tree):
        if (
            isinstance(block, ast.If)
            and getattr(block.test, "id", None) == "TYPE_CHECKING"
            and any(n.lineno == node.lineno for child in block.body for n in ast.walk(child))
        ):
            return True
    return False


def test_no_module_is_long() -> None:
    long = {
        p.relative_to(PACKAGE).as_posix(): n
        for p in provider_modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long


def platform_packages() -> list[str]:
    return [
        f"{PACKAGE.name}.{part}.{platform}"
        for part in PARTS
        for platform in PLATFORMS
        if (PACKAGE / part / platform / "__init__.py").is_file()
    ]


@pytest.mark.parametrize("package", platform_packages())
def test_a_part_package_exports_each_name_from_its_module_on_first_use(package: str) -> None:
    """Importing the package imports none of its modules (a DAG pays only for what it names), and
    every exported name resolves to the class or function its module defines."""
    code = (
        "import importlib, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        f"loaded = [m for m in sys.modules if m.startswith({package!r} + '.')]\n"
        "assert not loaded, loaded\n"
        "for name in pkg.__all__:\n"
        "    obj = getattr(pkg, name)\n"
        "    module = pkg._MODULE_OF[name]\n"
        "    assert getattr(importlib.import_module(f'{pkg.__name__}.{module}'), name) is obj, name\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
