"""The wheel the image installs carries every module: checked against pyproject's package rules."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]
CARRIED_SUFFIXES = {".py", ".pyi"}
CARRIED_NAMES = {"py.typed"}


def package_data(where: str) -> set[Path]:
    """The files pyproject's package-data declares (patterns per dotted package)."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        declared = tomllib.load(file)["tool"]["setuptools"].get("package-data", {})
    return {
        path
        for package, patterns in declared.items()
        for pattern in patterns
        for path in (ROOT / where / package.replace(".", "/")).glob(pattern)
    }


def package_rules() -> tuple[list[str], list[str]]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        find = tomllib.load(file)["tool"]["setuptools"]["packages"]["find"]
    return find["where"], find["include"]


def source_directories(where: Path, include: list[str]) -> set[str]:
    """Dotted names of the directories under `where` that hold Python modules and whose top
    level the package rules name."""
    found = set()
    for top in {pattern.rstrip("*") for pattern in include}:
        for module in (where / top).rglob("*.py"):
            relative = module.parent.relative_to(where)
            if "__pycache__" not in relative.parts:
                found.add(".".join(relative.parts))
    return found


@pytest.mark.parametrize("where", package_rules()[0])
def test_every_directory_of_modules_is_a_package_the_wheel_carries(where: str) -> None:
    include = package_rules()[1]
    packages = set(find_packages(where=str(ROOT / where), include=include))
    missing = source_directories(ROOT / where, include) - packages
    assert not missing, f"not packaged (add an __init__.py): {sorted(missing)}"


def test_packages_hold_no_data_files_the_wheel_would_leave_out() -> None:
    where, include = package_rules()
    tops = [ROOT / w / pattern.rstrip("*") for w in where for pattern in include]
    declared = {path for w in where for path in package_data(w)}
    left_out = [
        path.relative_to(ROOT)
        for top in tops
        if top.is_dir()
        for path in top.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix not in CARRIED_SUFFIXES
        and path.name not in CARRIED_NAMES
        and path not in declared
    ]
    assert not left_out, f"declare these as package data in pyproject.toml: {left_out}"
