"""The image's rules, read statically from the Dockerfile and .dockerignore (no docker needed)."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CIPHER_KEY|API_KEY|DATABASE_URL", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its keyword (upper case), arguments, and stage index."""

    keyword: str
    arguments: str
    stage: int


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    parsed = []
    stage = -1
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        parsed.append(Instruction(keyword.upper(), arguments.strip(), stage))
    return parsed


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return instructions((ROOT / "Dockerfile").read_text())


def final_stage(dockerfile: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in dockerfile)
    return [i for i in dockerfile if i.stage == last]


def arguments_of(dockerfile: list[Instruction], keyword: str) -> list[str]:
    return [i.arguments for i in dockerfile if i.keyword == keyword]


def test_the_base_image_is_a_build_argument_with_a_tagged_default(
    dockerfile: list[Instruction],
) -> None:
    global_args = [i.arguments for i in dockerfile if i.keyword == "ARG" and i.stage == -1]
    base = [a for a in global_args if a.startswith("BASE_IMAGE=")]
    assert len(base) == 1, "ARG BASE_IMAGE=<image:tag> before the first FROM"
    default = base[0].removeprefix("BASE_IMAGE=")
    assert re.fullmatch(r"[\w./-]+:3\.\d+[\w.-]*", default), default
    for source in arguments_of(dockerfile, "FROM"):
        assert source.split()[0] == "${BASE_IMAGE}", f"FROM {source} does not use BASE_IMAGE"


def test_the_build_is_multi_stage_and_the_runtime_copies_only_the_installed_packages(
    dockerfile: list[Instruction],
) -> None:
    stages = arguments_of(dockerfile, "FROM")
    assert len(stages) >= 2
    build_name = stages[0].split()[-1]
    runtime_copies = [i.arguments for i in final_stage(dockerfile) if i.keyword == "COPY"]
    assert runtime_copies, "the runtime stage copies the built packages"
    assert all(c.startswith(f"--from={build_name} ") for c in runtime_copies), runtime_copies


def test_packages_are_installed_from_the_wheel_directory_only(
    dockerfile: list[Instruction],
) -> None:
    env = " ".join(arguments_of(dockerfile, "ENV"))
    runs = " ".join(arguments_of(dockerfile, "RUN"))
    assert "PIP_NO_INDEX=1" in env or "--no-index" in runs
    assert "--find-links /wheelhouse" in runs


def test_no_latest_tag_anywhere(dockerfile: list[Instruction]) -> None:
    for instruction in dockerfile:
        assert "latest" not in instruction.arguments.lower(), instruction


def test_the_runtime_runs_as_a_fixed_numeric_non_root_user(
    dockerfile: list[Instruction],
) -> None:
    users = [i.arguments for i in final_stage(dockerfile) if i.keyword == "USER"]
    assert users, "the runtime stage sets USER"
    assert users[-1] == "10001:10001"
    after_user = final_stage(dockerfile)
    last_user = max(n for n, i in enumerate(after_user) if i.keyword == "USER")
    assert not [i for i in after_user[last_user:] if i.keyword == "RUN"], "RUN after USER"


def test_sigterm_stops_the_container(dockerfile: list[Instruction]) -> None:
    assert arguments_of(final_stage(dockerfile), "STOPSIGNAL") == ["SIGTERM"]


def test_the_entrypoint_is_the_convtrack_command_in_exec_form(
    dockerfile: list[Instruction],
) -> None:
    entrypoints = arguments_of(final_stage(dockerfile), "ENTRYPOINT")
    assert [json.loads(e) for e in entrypoints] == [["convtrack"]]
    assert arguments_of(final_stage(dockerfile), "WORKDIR") == ["/app"]


def test_data_lives_under_tmp_the_only_writable_path(dockerfile: list[Instruction]) -> None:
    env = " ".join(arguments_of(final_stage(dockerfile), "ENV"))
    assert "CONVTRACK_DATA_DIR=/tmp/data" in env
    assert "HOME=/tmp" in env


def test_the_version_label_defaults_to_the_project_version(
    dockerfile: list[Instruction],
) -> None:
    assert f"VERSION={project_version()}" in arguments_of(final_stage(dockerfile), "ARG")


def test_no_secrets_are_baked_in(dockerfile: list[Instruction]) -> None:
    for instruction in dockerfile:
        if instruction.keyword in ("ENV", "ARG", "LABEL"):
            assert not SECRET_NAME.search(instruction.arguments), instruction


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether docker leaves `path` out of the build context (last matching pattern wins;
    a pattern that matches a parent directory matches everything under it)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        pattern = pattern.replace("**/", "*/") if pattern.startswith("**/") else pattern
        if any(
            fnmatch.fnmatchcase(c, pattern) or fnmatch.fnmatchcase(c, pattern.removeprefix("*/"))
            for c in candidates
        ):
            result = not negated
    return result


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "data/ingest.db",
        "tests/unit/test_money.py",
        "services/ingest/__pycache__/server.cpython-311.pyc",
        ".mypy_cache/3.11/cache.db",
        "build/lib/services/cli.py",
    ],
)
def test_the_build_context_leaves_out(path: str) -> None:
    assert ignored(path, dockerignore_patterns())


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "README.md",
        "services/cli.py",
        "common/server.py",
        "gen/convtrack/ingest/v1/ingest_pb2.py",
        "build/wheelhouse/grpcio-1.85.1-cp311-cp311-manylinux2014_x86_64.whl",
    ],
)
def test_the_build_context_keeps(path: str) -> None:
    assert not ignored(path, dockerignore_patterns())
