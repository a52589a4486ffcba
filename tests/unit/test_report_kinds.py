"""`convtrack report` arguments it cannot serve: one clear line and exit status 2."""

from __future__ import annotations

import pytest

from services.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["paths", "--models", "linear"],
            "convtrack report: report `paths` takes no model: paths are the journeys themselves",
        ),
        (
            ["cost", "--models", "last_click,linear"],
            "convtrack report: report `cost` takes one model, got 2: use "
            "`convtrack report compare` to compare models",
        ),
        (
            ["funnel"],
            "convtrack report: report `funnel` needs --step KIND:VALUE, once per step, in order",
        ),
        (
            ["funnel", "--step", "pricing"],
            "convtrack report: --step 'pricing': say KIND:VALUE, in order: page:/pricing (page "
            "views and landing pages whose path starts with /pricing; page:=/pricing for that "
            "path only), event:NAME (identify, page_view, touchpoint or a conversion name), "
            "conversion:NAME; a trailing * matches names by prefix",
        ),
        (
            ["funnel", "--step", "page:/", "--within", "a week"],
            "convtrack report: --within 'a week': say a whole number of days, hours, minutes or "
            "seconds, e.g. 7d, 12h, 30m",
        ),
        (
            ["cohorts", "--interval", "day"],
            "convtrack report: report `cohorts` takes --interval week or month",
        ),
        (
            ["cohorts", "--models", "linear"],
            "convtrack report: report `cohorts` takes no model: it counts persons, not credits",
        ),
        (
            ["bogus"],
            "convtrack report: unknown report KIND `bogus` (choose from conversions, "
            "compare, cost, rates, paths, outcomes, funnel, cohorts)",
        ),
        (
            ["compare", "--as-of", "yesterday"],
            "convtrack report: --as-of 'yesterday': say an ISO 8601 time "
            "(2026-03-01T00:00:00Z) or position:N",
        ),
        (
            ["conversions", "--as-of", "position:-3"],
            "convtrack report: --as-of 'position:-3': say position:N with a whole number N",
        ),
        (
            ["conversions", "--models", "last_click,linear"],
            "convtrack report: report `conversions` takes one model, got 2: use "
            "`convtrack report compare` to compare models",
        ),
        (
            ["cost", "--group-by", "device_type"],
            "convtrack report: report `cost` takes one --group-by of channel, source, medium, "
            "campaign and no --interval, --filter or --compare: use `convtrack report "
            "conversions` for those",
        ),
        (
            ["rates", "--interval", "day"],
            "convtrack report: report `rates` takes one --group-by of channel, source, medium, "
            "campaign and no --interval, --filter or --compare: use `convtrack report "
            "conversions` for those",
        ),
        (
            ["outcomes", "--models", "last_click,linear"],
            "convtrack report: report `outcomes` takes one model, got 2: use "
            "`convtrack report compare` to compare models",
        ),
        (
            ["outcomes", "--interval", "week"],
            "convtrack report: report `outcomes` takes one --group-by dimension and no "
            "--interval, --filter or --compare",
        ),
        (
            ["compare", "--format", "parquet"],
            "convtrack report: --format parquet needs --output FILE",
        ),
    ],
)
def test_a_report_the_command_cannot_serve_exits_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", *args, "--property", "shop", "--addr", "127.0.0.1:9"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [message]
    assert captured.out == ""


def test_without_a_kind_the_report_says_which_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "bogus", "--property", "shop"]) == 2
    assert main(["report", "--property", "shop", "--format", "parquet"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1] == (
        "convtrack report: no KIND given, reporting `conversions` "
        "(say `convtrack report conversions`; KINDs: conversions, compare, cost, rates, paths, "
        "outcomes, funnel, cohorts)"
    )
