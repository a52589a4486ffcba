"""What `convtrack` imports: parsing arguments and the offline commands stay light."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from services.cli import COMMANDS, GROUP_BY, build_parser, command_name, handler
from tests.module_probe import HEAVY_PACKAGES, SERVICE_PACKAGES, run_probe, within

SERVER_SIDE = ("grpc", "sqlalchemy", "psycopg", "eventsourcing", "opentelemetry", "convtrack")


def run_convtrack(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Runs `convtrack ARGS` in a fresh interpreter; its result and every module it imported."""
    return run_probe(f"from services.cli import main\nsys.exit(main({list(args)!r}))")


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["serve", "--help"],
        ["report", "--help"],
        ["chart", "--help"],
        ["attribution", "run-file", "--help"],
        ["identity", "resolve-file", "--help"],
        ["sample", "send", "--help"],
        ["relay", "--help"],
    ],
    ids=" ".join,
)
def test_help_imports_no_service_and_no_heavy_library(args: list[str]) -> None:
    done, modules = run_convtrack(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: convtrack" in done.stdout
    assert within(modules, (*HEAVY_PACKAGES, *SERVICE_PACKAGES, "services.launcher")) == []


def test_a_bad_argument_still_gets_argparse_usage_without_heavy_imports() -> None:
    done, modules = run_convtrack("serve", "billing")
    assert done.returncode == 2
    assert "invalid choice: 'billing'" in done.stderr
    assert within(modules, (*HEAVY_PACKAGES, *SERVICE_PACKAGES)) == []


@pytest.mark.parametrize("mode", ["naive", "deterministic", "probabilistic"])
def test_resolve_file_imports_no_server_side_library_nor_other_service(
    tmp_path: Path, mode: str
) -> None:
    observations = tmp_path / "observations.jsonl"
    observations.write_text(
        json.dumps({"obs_id": "1", "anonymous_id": "laptop", "user_id": "u1"})
        + "\n"
        + json.dumps({"obs_id": "2", "anonymous_id": "phone", "user_id": "u1"})
        + "\n"
    )
    done, modules = run_convtrack("identity", "resolve-file", str(observations), "--mode", mode)
    assert done.returncode == 0, done.stderr[-2000:]
    persons = {json.loads(line)["person"] for line in done.stdout.splitlines()}
    assert len(persons) == 1
    others = [p for p in SERVICE_PACKAGES if p != "services.identity"]
    assert within(modules, (*SERVER_SIDE, *others, "services.launcher")) == []
    if mode != "probabilistic":
        assert within(modules, ("numpy", "scipy")) == []


def write_path_table(path: Path) -> None:
    path.write_text(
        "path,total_conversions,total_conversion_value,total_null\n"
        "email > search,3,300,1\n"
        "search,1,50,4\n"
        "display > email,0,0,5\n"
    )


def test_run_file_with_rule_models_imports_no_scipy_nor_server_side_library(
    tmp_path: Path,
) -> None:
    table = tmp_path / "paths.csv"
    write_path_table(table)
    done, modules = run_convtrack(
        "attribution", "run-file", str(table), "--models", "first,last,linear,position"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "linear" in done.stdout
    others = [p for p in SERVICE_PACKAGES if p != "services.attribution"]
    assert within(modules, (*SERVER_SIDE, *others, "services.launcher", "scipy")) == []


def test_run_file_with_markov_imports_scipy_but_no_server_side_library(tmp_path: Path) -> None:
    table = tmp_path / "paths.csv"
    write_path_table(table)
    done, modules = run_convtrack("attribution", "run-file", str(table), "--models", "markov")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "markov" in done.stdout
    assert "scipy.sparse" in modules
    others = [p for p in SERVICE_PACKAGES if p != "services.attribution"]
    assert within(modules, (*SERVER_SIDE, *others, "services.launcher")) == []


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_resolves_to_its_handler(command: str) -> None:
    args = build_parser().parse_args(
        {
            "serve": ["serve", "ingest"],
            "report": ["report", "--property", "p"],
            "attribution run-file": ["attribution", "run-file", "paths.csv"],
            "identity resolve-file": ["identity", "resolve-file", "observations.jsonl"],
            "rejected": ["rejected", "--property", "p"],
            "relay": ["relay", "--url", "http://127.0.0.1:9/hook", "--property", "p"],
            "import events": ["import", "events", "events.jsonl"],
            "keys revoke": ["keys", "revoke", "0123abcd"],
            "audit list": ["audit", "list", "--service", "identity"],
            "attribution models": ["attribution", "models", "--property", "p"],
            "consent defaults": ["consent", "defaults", "--property", "p"],
            "consent forget": ["consent", "forget", "--property", "p", "--identifier", "anon:c"],
            "channels set": ["channels", "set", "--property", "p", "--rules", "r.json"],
            "channels show": ["channels", "show", "--property", "p"],
            "attribution configure-models": [
                "attribution",
                "configure-models",
                "--all-properties",
                "--models",
                "linear",
            ],
            "attribution reporting-identity": [
                "attribution",
                "reporting-identity",
                "--property",
                "p",
                "blended",
            ],
            "spend import": ["spend", "import", "spend.csv"],
            "outcomes import": ["outcomes", "import", "deals.csv"],
            "certs dev": ["certs", "dev", "certs"],
            "chart": ["chart", "models", "--output", "c.png", "--property", "p"],
            "vault export-legacy-secret": ["vault", "export-legacy-secret", "--out", "key"],
            "vault retire": ["vault", "retire", "0123456789ab"],
        }.get(command, command.split())
    )
    assert command_name(args) == command
    assert callable(handler(command))


def test_report_group_by_choices_are_the_ones_the_report_knows() -> None:
    from services.commands.reports import GROUP_BY as REPORT_GROUP_BY

    assert sorted(GROUP_BY) == sorted(REPORT_GROUP_BY)


def test_path_views_and_chart_kinds_are_the_ones_the_commands_know() -> None:
    from services.cli import CHARTS, PATH_VIEWS
    from services.commands.charts import CHARTS as CHART_KINDS
    from services.commands.paths import VIEWS

    assert (PATH_VIEWS, CHARTS) == (VIEWS, CHART_KINDS)


def test_spend_formats_are_the_ones_the_import_knows() -> None:
    from services.cli import SPEND_FORMATS
    from services.commands.spend_import import CSV_FORMATS

    assert sorted(SPEND_FORMATS) == sorted(["auto", *CSV_FORMATS])
