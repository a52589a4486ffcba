"""Per-event cost of ingest enrichment: user-agent parsing with the bot flag, and channels.

A seeded stream of events draws user agents from a pool of distinct strings (real browsers
and crawlers with varied version numbers, so some are new to the cache and most repeat, as
on a site), and landing URLs/referrers from a small mix. Rows give microseconds per event.
Times are CPU seconds of this process, which a busy machine inflates less than wall time.
`python -m bench.enrichment_bench` prints the table; `python -m bench` includes its rows.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence

from bench.table import Row, format_table
from services.ingest.enrichment import CampaignTags, ClickIds, UserAgentParser, classify_traffic

EVENTS = 50_000
QUICK_EVENTS = 5_000
DISTINCT_AGENTS = 2_000
SEED = 7

_TEMPLATES = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{build}.{patch} Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{major}.{patch} Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{patch} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/{major}.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android {major}; SM-S{build}B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{build}.{patch} Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:{major}.0) Gecko/20100101 Firefox/{major}.0",
    "Mozilla/5.0 (compatible; Googlebot/2.{patch}; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; AhrefsBot/{major}.{patch}; +http://ahrefs.com/robot/)",
)
_VISITS = (
    ("https://shop.example.co.uk/?gclid=Cj0KCQ{build}", "https://www.google.co.uk/"),
    ("https://shop.example.co.uk/p/{build}", "https://www.bing.com/search?q=shoes"),
    ("https://shop.example.co.uk/?utm_source=news&utm_medium=email", ""),
    ("https://shop.example.co.uk/cart", "https://example.co.uk/blog/{build}"),
    ("https://shop.example.co.uk/", "https://forum.other-site.de/t/{build}"),
    ("https://shop.example.co.uk/?fbclid=IwAR{build}", "https://m.facebook.com/"),
)


def user_agents(count: int, seed: int) -> list[str]:
    """`count` distinct user agents drawn from browser and crawler templates."""
    rng = random.Random(seed)
    agents: set[str] = set()
    while len(agents) < count:
        template = rng.choice(_TEMPLATES)
        agents.add(
            template.format(
                major=rng.randint(9, 130), build=rng.randint(100, 9999), patch=rng.randint(0, 99)
            )
        )
    return sorted(agents)


def _stream(events: int, seed: int) -> tuple[list[str], list[tuple[str, str]]]:
    rng = random.Random(seed)
    pool = user_agents(DISTINCT_AGENTS, seed)
    weights = [1.0 / (rank + 1) for rank in range(len(pool))]
    agents = rng.choices(pool, weights=weights, k=events)
    visits = []
    for _ in range(events):
        landing, referrer = rng.choice(_VISITS)
        build = rng.randint(100, 9999)
        visits.append((landing.format(build=build), referrer.format(build=build)))
    return agents, visits


def run(quick: bool = False) -> list[Row]:
    """Rows: user agents cold (every string new), user agents on the event stream, channels.

    One call before each timing loads the parsers' data (start-up cost, not per event)."""
    events = QUICK_EVENTS if quick else EVENTS
    agents, visits = _stream(events, SEED)
    cold = user_agents(DISTINCT_AGENTS, SEED + 1)
    rows = []
    tags, clicks = CampaignTags(), ClickIds()
    landing, referrer = visits[0]
    classify_traffic(landing_url=landing, referrer=referrer, tags=tags, click_ids=clicks)

    parser = UserAgentParser()
    parser.parse(agents[0])
    started = time.process_time()
    for agent in cold:
        parser.parse(agent)
    rows.append(_row("user agent, each new", len(cold), time.process_time() - started))

    parser = UserAgentParser()
    parser.parse(cold[0])
    started = time.process_time()
    for agent in agents:
        parser.parse(agent)
    distinct = len(set(agents))
    rows.append(
        _row("user agent, stream", events, time.process_time() - started, f"{distinct} distinct")
    )

    started = time.process_time()
    for landing, referrer in visits:
        classify_traffic(landing_url=landing, referrer=referrer, tags=tags, click_ids=clicks)
    rows.append(_row("channel", events, time.process_time() - started))
    return rows


def _row(benchmark: str, count: int, seconds: float, note: str = "") -> Row:
    micros = seconds / count * 1e6
    return Row(
        f"enrichment: {benchmark}", "-", f"{count:,}", seconds, f"{micros:.1f} µs/event", note
    )


def main(argv: Sequence[str] | None = None) -> None:
    """The command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench.enrichment_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS} events")
    args = parser.parse_args(argv)
    print(format_table(run(args.quick)))


if __name__ == "__main__":
    main()
