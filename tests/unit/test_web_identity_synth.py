"""The second web-identity generator: seeded, and the traps it promises are there."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pytest

from bench import web_identity_synth
from bench.web_identity_synth import NICKNAMES, WebWorld, generate
from common.input_problems import ProblemTally
from services.identity.offline import hash_phone, parse_observation, read_observations

PERSONS = 600
IDENTIFIER_FIELDS = ("user_id", "anonymous_id", "crm_id", "email", "phone")


@pytest.fixture(scope="module")
def world() -> WebWorld:
    return generate(PERSONS, seed=7)


def _persons_by_ip(world: WebWorld) -> dict[str, set[str]]:
    persons: dict[str, set[str]] = defaultdict(set)
    for obs, actor in zip(world.observations, world.actors, strict=True):
        if obs.get("ip"):
            persons[obs["ip"]].add(actor)
    return persons


def test_the_same_seed_gives_the_same_world_and_another_seed_another() -> None:
    first, again, other = generate(150, seed=3), generate(150, seed=3), generate(150, seed=4)
    assert first.lines() == again.lines()
    assert first.owners == again.owners and first.shared == again.shared
    assert first.lines() != other.lines()


def test_every_line_reads_cleanly_as_resolve_file_input(world: WebWorld) -> None:
    problems = ProblemTally("line")
    records = read_observations(world.lines(), web_identity_synth.DEFAULT_REGION, problems)
    assert problems.summary() == []
    assert len(records) == len(world.observations)
    timestamps = [record.ts for record in records]
    assert timestamps == sorted(timestamps)


def test_every_identifier_in_the_file_has_an_owner_or_a_reason_for_none(world: WebWorld) -> None:
    seen = {
        (name, obs[name]) for obs in world.observations for name in IDENTIFIER_FIELDS if name in obs
    }
    assert seen == set(world.owners) | set(world.shared)
    assert not set(world.owners) & set(world.shared)


def test_households_have_one_to_six_members_and_hold_every_person_once(world: WebWorld) -> None:
    sizes = {len(members) for members in world.households}
    assert sizes == {1, 2, 3, 4, 5, 6}
    members = [pid for household in world.households for pid in household]
    assert len(members) == len(set(members)) == PERSONS


def test_a_household_shares_its_home_ip(world: WebWorld) -> None:
    household_of = {pid: i for i, members in enumerate(world.households) for pid in members}
    shared_homes = [
        ip
        for ip, persons in _persons_by_ip(world).items()
        if 2 <= len(persons) <= 6 and len({household_of[p] for p in persons}) == 1
    ]
    assert len(shared_homes) >= 20


def test_family_mailboxes_are_read_by_several_persons_and_owned_by_none(world: WebWorld) -> None:
    mailboxes = {value for (name, value), why in world.shared.items() if why == "family mailbox"}
    readers: dict[str, set[str]] = defaultdict(set)
    for obs, actor in zip(world.observations, world.actors, strict=True):
        if obs.get("email") in mailboxes:
            readers[obs["email"]].add(actor)
    assert len(mailboxes) >= 10
    assert sum(len(persons) >= 2 for persons in readers.values()) >= 5


def test_carrier_nat_addresses_are_each_shared_by_many_persons(world: WebWorld) -> None:
    persons = _persons_by_ip(world)
    carrier_ips = [ip for ip in persons if ip.startswith(("172.56.", "172.57.", "172.58."))]
    assert len(carrier_ips) >= 6
    assert all(len(persons[ip]) >= PERSONS // 10 for ip in carrier_ips)
    busiest = max(persons, key=lambda ip: len(persons[ip]))
    assert busiest in carrier_ips


def test_office_desktops_share_an_address_and_one_managed_browser(world: WebWorld) -> None:
    colleagues: dict[tuple[str, str], set[str]] = defaultdict(set)
    for obs, actor in zip(world.observations, world.actors, strict=True):
        if obs.get("ip") and "Windows NT" in obs.get("ua", ""):
            colleagues[(obs["ip"], obs["ua"])].add(actor)
    assert max(len(persons) for persons in colleagues.values()) >= 10


def _spans(world: WebWorld, source: str) -> dict[str, tuple[datetime, datetime]]:
    spans: dict[str, tuple[datetime, datetime]] = {}
    for obs in world.observations:
        if obs["source"] == source:
            ts = datetime.fromisoformat(obs["ts"])
            first, last = spans.get(obs["anonymous_id"], (ts, ts))
            spans[obs["anonymous_id"]] = (min(first, ts), max(last, ts))
    return spans


def test_cookies_live_at_most_thirty_days_and_app_install_ids_longer(world: WebWorld) -> None:
    cookie_days = [
        (last - first) / timedelta(days=1) for first, last in _spans(world, "web").values()
    ]
    app_days = [(last - first) / timedelta(days=1) for first, last in _spans(world, "app").values()]
    assert max(cookie_days) <= 30.1
    assert max(cookie_days) > 20
    assert max(app_days) > 45


def test_persons_have_one_to_three_emails(world: WebWorld) -> None:
    emails: dict[str, set[str]] = defaultdict(set)
    for (name, value), person in world.owners.items():
        if name == "email":
            emails[person].add(value.lower())
    assert {len(addresses) for addresses in emails.values()} == {1, 2, 3}


def test_phones_come_in_several_formats_that_resolve_file_reads_as_one(world: WebWorld) -> None:
    formats: dict[str, set[str]] = defaultdict(set)
    for (name, value), _person in world.owners.items():
        if name == "phone":
            formats[hash_phone(value, web_identity_synth.DEFAULT_REGION)].add(value)
    assert sum(len(raw) >= 2 for raw in formats.values()) >= 10
    owners_per_number = defaultdict(set)
    for (name, value), person in world.owners.items():
        if name == "phone":
            owners_per_number[hash_phone(value, "US")].add(person)
    assert all(len(persons) == 1 for persons in owners_per_number.values())


def test_crm_duplicates_carry_nicknames_typos_and_moved_addresses(world: WebWorld) -> None:
    records: dict[str, list[dict[str, str]]] = defaultdict(list)
    for obs, actor in zip(world.observations, world.actors, strict=True):
        if obs["source"] == "crm":
            records[actor].append(obs)
    duplicated = [rs for rs in records.values() if len(rs) >= 2]
    assert len(duplicated) >= 20
    nicknames = other_names = moved = 0
    for rs in duplicated:
        names = {r["first_name"].lower() for r in rs}
        if any(nick.lower() in names for full in names for nick in NICKNAMES.get(full.title(), ())):
            nicknames += 1
        elif len(names) > 1:
            other_names += 1
        moved += len({r["postcode"] for r in rs}) > 1
    assert nicknames >= 2 and other_names >= 5 and moved >= 5


def test_app_and_web_both_appear_and_the_app_sends_the_user_id(world: WebWorld) -> None:
    sources = {obs["source"] for obs in world.observations}
    assert sources == {"web", "app", "crm"}
    app = [obs for obs in world.observations if obs["source"] == "app"]
    assert sum("user_id" in obs for obs in app) > len(app) // 2


def test_owned_values_parse_into_the_identifiers_resolve_file_makes(world: WebWorld) -> None:
    for name, value in list(world.owners)[:500]:
        record = parse_observation({name: value}, 1, web_identity_synth.DEFAULT_REGION)
        assert record is not None and len(record.identifiers) == 1


def test_a_world_needs_at_least_one_person() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate(0)
