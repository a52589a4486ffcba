"""Probabilistic identity linkage: string similarity, blocking, EM, term frequencies, scoring."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bench.identity_synth import generate
from services.identity.observations import ObservationRecord
from services.identity.probabilistic import (
    IP_DEVICE_LEVELS,
    NULL_LEVEL,
    BlockingRule,
    FellegiSunterParams,
    IdentifierProfile,
    LinkerConfig,
    ProbabilisticLinker,
    ProbabilisticModelError,
    block,
    build_profiles,
    device_build,
    expectation_maximisation,
    ip_network,
    jaro_winkler,
    parse_user_agent,
    postcode_district,
    same_given_name,
    soundex,
)

START = datetime(2026, 3, 2, tzinfo=UTC)


def synthetic_ua(ua: str) -> tuple[str, str]:
    """Test user agents are "family|device/browser version/OS version" already."""
    family, _, device = ua.partition("|")
    return family, device


def web_records(seed: int = 7) -> tuple[list[ObservationRecord], dict[str, int]]:
    """Households with two cookies each on a home IP (the second replacing the first, four
    days later), neighbours on a shared /24, and a carrier NAT IP used by many people;
    returns the records and each cookie's person."""
    rng = random.Random(seed)
    families = ["Chrome/Windows", "Safari/iOS", "Chrome/Android"]
    cities = ["leeds", "york", "hull", "bath"]
    records: list[ObservationRecord] = []
    person_of: dict[str, int] = {}

    def visits(
        person: int, cookie: str, ip: str, ua: str, city: str, centre: int, first_day: int = 0
    ) -> None:
        person_of[cookie] = person
        for n in range(10):
            hour = (centre + rng.choice([-1, 0, 0, 1])) % 24
            day = first_day + rng.randrange(4)
            ts = START + timedelta(days=day, hours=hour, minutes=rng.randrange(60))
            records.append(
                ObservationRecord(
                    f"{cookie}-{n}", (cookie,), ts, ip=ip, user_agent=ua, geo_city=city
                )
            )

    for person in range(150):
        ip = f"81.2.{person // 5}.{10 + person % 5}"
        family = rng.choice(families)
        ua = f"{family}|Device/{110 + rng.randrange(12)}/14"
        city, centre = rng.choice(cities), rng.randrange(24)
        for device in range(2):
            visits(person, f"anon:h{person}-{device}", ip, ua, city, centre, 4 * device)
    for person in range(1000, 1120):
        ua = f"Chrome/Android|Device/{110 + person % 7}/14"
        city = rng.choice(cities)
        visits(person, f"anon:nat{person}", "100.64.0.1", ua, city, rng.randrange(24))
    return records, person_of


def crm_records(seed: int = 11) -> list[ObservationRecord]:
    """Two CRM records per person, the second with a nickname or a typo; "smith" is common."""
    rng = random.Random(seed)
    firsts = ["robert", "william", "elizabeth", "katherine", "james", "michael", "anna", "omar"]
    nick = {"robert": "bob", "william": "bill", "elizabeth": "liz", "katherine": "kate"}
    rare = ["zabrowski", "okonkwo", "fairweather", "lindqvist", "castellanos", "haddad"]
    records: list[ObservationRecord] = []
    for person in range(240):
        first = rng.choice(firsts)
        last = (
            "smith"
            if person % 2
            else f"{rng.choice(rare)}{chr(97 + person % 26)}{chr(97 + person // 26)}"
        )
        postcode = f"LS{person % 9} {person % 10}A{'BCDEFG'[person % 6]}"
        dob = f"19{50 + person % 50}-0{1 + person % 9}-1{person % 10}"
        for copy in range(2):
            given = nick.get(first, first) if copy else first
            records.append(
                ObservationRecord(
                    f"crm-{person}-{copy}",
                    (f"crm:{person}-{copy}",),
                    first_name=given.title(),
                    last_name=last.title(),
                    postcode=postcode,
                    date_of_birth=dob,
                    phone_sha256=f"{person:064x}" if copy == 0 or person % 3 else "",
                )
            )
    return records


def test_jaro_winkler_matches_published_values() -> None:
    assert jaro_winkler("MARTHA", "MARHTA") == pytest.approx(0.961, abs=1e-3)
    assert jaro_winkler("DWAYNE", "DUANE") == pytest.approx(0.84, abs=1e-3)
    assert jaro_winkler("DIXON", "DICKSONX") == pytest.approx(0.813, abs=1e-3)
    assert jaro_winkler("same", "same") == 1.0
    assert jaro_winkler("", "abc") == 0.0


def test_soundex_and_postcode_district_follow_their_standards() -> None:
    assert soundex("Robert") == soundex("Rupert") == "R163"
    assert soundex("Ashcraft") == "A261"
    assert soundex("Tymczak") == "T522"
    assert postcode_district("SW1A1AA") == "SW1A"
    assert postcode_district("LS61AB") == "LS6"
    assert postcode_district("90210") == "902"


def test_nicknames_and_close_spellings_count_as_the_same_given_name() -> None:
    for short, full in [("bob", "robert"), ("bill", "william"), ("liz", "elizabeth")]:
        assert same_given_name(short, full)
    assert same_given_name("kate", "katherine")
    assert same_given_name("jim", "james")
    assert same_given_name("mike", "michael")
    assert same_given_name("jonathon", "jonathan")
    assert not same_given_name("bob", "william")


def test_nicknames_match_at_the_fuzzy_level() -> None:
    linker = ProbabilisticLinker()
    records = crm_records()
    params = linker.fit(records)
    first_name = next(c for c in params.comparisons if c.name == "first_name")

    # Person 0 is "Robert" in one record and "Bob" in the other, or has the same name twice.
    people = {r.identifiers[0]: r.first_name for r in records}
    nickname_pair = next(
        (f"crm:{p}-0", f"crm:{p}-1")
        for p in range(240)
        if people[f"crm:{p}-0"] != people[f"crm:{p}-1"]
    )
    [scored] = linker.score_pairs(records, [nickname_pair], params)

    assert scored.per_signal["first_name"] == pytest.approx(first_name.log2_bayes_factors()[1])
    assert scored.per_signal["first_name"] > 0


def test_em_recovers_m_and_u_from_pairs_generated_with_known_values() -> None:
    rng = np.random.default_rng(42)
    true_m = [np.array([0.85, 0.1, 0.05]), np.array([0.9, 0.1]), np.array([0.7, 0.2, 0.1])]
    true_u = [np.array([0.05, 0.15, 0.8]), np.array([0.2, 0.8]), np.array([0.02, 0.08, 0.9])]
    pairs, share = 40_000, 0.2
    is_match = rng.random(pairs) < share
    gamma = np.empty((pairs, 3), dtype=np.int8)
    for k in range(3):
        levels = np.arange(true_m[k].size)
        gamma[is_match, k] = rng.choice(levels, is_match.sum(), p=true_m[k])
        gamma[~is_match, k] = rng.choice(levels, (~is_match).sum(), p=true_u[k])
    gamma[rng.random(pairs) < 0.1, 1] = NULL_LEVEL  # some missing values

    result = expectation_maximisation(
        gamma,
        [np.array([0.6, 0.3, 0.1]), np.array([0.7, 0.3]), np.array([0.6, 0.3, 0.1])],
        [np.array([0.2, 0.3, 0.5]), np.array([0.4, 0.6]), np.array([0.2, 0.3, 0.5])],
        0.5,
    )

    assert result.converged
    assert result.match_prior == pytest.approx(share, abs=0.02)
    for k in range(3):
        np.testing.assert_allclose(result.m[k], true_m[k], atol=0.03)
        np.testing.assert_allclose(result.u[k], true_u[k], atol=0.03)


def test_term_frequency_makes_a_common_surname_weigh_less_than_a_rare_one() -> None:
    linker = ProbabilisticLinker()
    records = crm_records()
    params = linker.fit(records)

    common, rare = linker.score_pairs(
        records, [("crm:1-0", "crm:1-1"), ("crm:2-0", "crm:2-1")], params
    )

    assert common.per_signal["last_name"] > 0
    assert rare.per_signal["last_name"] > common.per_signal["last_name"] + 3


def test_crm_records_of_one_person_link_despite_nicknames_and_missing_phones() -> None:
    linker = ProbabilisticLinker()
    records = crm_records()

    links = linker.links(records)

    linked = {(a, b) for a, b, _ in links}
    assert all(a.split("-")[0] == b.split("-")[0] for a, b in linked)
    assert len(linked) >= 0.95 * 240


def test_blocking_never_pairs_records_across_blocks_and_skips_oversized_blocks() -> None:
    profiles = [IdentifierProfile(f"crm:{i}", postcode=f"P{i % 4}") for i in range(40)]
    profiles += [IdentifierProfile(f"crm:big{i}", postcode="BIG") for i in range(60)]
    rule = BlockingRule("postcode", lambda p: [p.postcode])

    result = block(profiles, [rule], max_block_size=50)

    pairs = list(zip(result.a.tolist(), result.b.tolist(), strict=True))
    assert len(pairs) == 4 * (10 * 9 // 2)
    assert all(profiles[a].postcode == profiles[b].postcode != "BIG" for a, b in pairs)
    assert all(a < b for a, b in pairs)
    assert result.skipped_blocks == {"postcode": 1}
    assert result.largest_skipped == 60


def test_a_shared_nat_ip_alone_does_not_link_but_a_home_ip_with_same_ua_and_hours_does() -> None:
    linker = ProbabilisticLinker(ua_signature=synthetic_ua)
    records, person_of = web_records()
    params = linker.fit(records)

    links = linker.links(records, params=params)
    home, nat = linker.score_pairs(
        records, [("anon:h3-0", "anon:h3-1"), ("anon:nat1000", "anon:nat1007")], params
    )

    # Two cookies alone on an IP with one build and one hour pattern are ~14 bits; on 420
    # identifiers the prior is ~2^-9: a household of two with one phone model looks the same
    # to the model, so not every such pair reaches 0.99.
    assert home.match_probability >= 0.95
    assert nat.match_probability < 0.5
    assert nat.per_signal["ip_device"] + 5.0 < home.per_signal["ip_device"]
    assert all(person_of[a] == person_of[b] for a, b, _ in links)
    assert not any("nat" in a or "nat" in b for a, b, _ in links)
    assert len(links) >= 0.4 * 150
    assert len(linker.links(records, 0.9, params=params)) >= 0.9 * 150


def test_null_levels_contribute_zero_weight() -> None:
    linker = ProbabilisticLinker(ua_signature=synthetic_ua)
    web, _ = web_records()
    records = web + crm_records()
    params = linker.fit(records)

    [cross] = linker.score_pairs(records, [("anon:h0-0", "crm:0-0")], params)
    [no_phone] = linker.score_pairs(records, [("crm:0-0", "crm:3-1")], params)

    assert cross.per_signal == dict.fromkeys(cross.per_signal, 0.0)
    assert cross.match_weight == 0.0
    assert no_phone.per_signal["phone"] == 0.0
    assert no_phone.per_signal["ip_device"] == 0.0


def test_params_round_trip_through_plain_dicts() -> None:
    params = ProbabilisticLinker(LinkerConfig(u_random_pairs=5_000)).fit(crm_records())

    stored = json.loads(json.dumps(params.to_dict()))

    assert FellegiSunterParams.from_dict(stored) == params
    with pytest.raises(ProbabilisticModelError):
        FellegiSunterParams.from_dict({"comparisons": []})


def test_params_fitted_for_other_comparisons_are_refused() -> None:
    records = crm_records()
    params = ProbabilisticLinker().fit(records)
    narrower = ProbabilisticLinker(comparisons=ProbabilisticLinker().comparisons[:3])

    with pytest.raises(ProbabilisticModelError):
        narrower.score(records, params)


def test_an_ip_shared_months_apart_counts_less_than_one_shared_at_the_same_time() -> None:
    linker = ProbabilisticLinker(ua_signature=synthetic_ua)
    web, _ = web_records()
    later = START + timedelta(days=120)
    extra = [
        ObservationRecord(f"x{n}", (cookie,), ts, ip=ip)
        for n, (cookie, ts, ip) in enumerate(
            [
                ("anon:now-a", START, "203.0.113.5"),
                ("anon:now-b", START + timedelta(hours=3), "203.0.113.5"),
                ("anon:apart-a", START, "198.51.100.9"),
                ("anon:apart-b", later, "198.51.100.9"),
            ]
        )
    ]
    records = web + extra
    params = linker.fit(records)

    together, apart = linker.score_pairs(
        records, [("anon:now-a", "anon:now-b"), ("anon:apart-a", "anon:apart-b")], params
    )

    # These web records hold no match that shares an IP without a device build, so how much
    # more an IP shared at once weighs comes from the prior on m; that it weighs more may not.
    assert together.per_signal["ip_device"] > apart.per_signal["ip_device"]


def test_user_agents_parse_into_browser_family_and_device_build() -> None:
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
    )

    family, device = parse_user_agent(iphone)

    assert family == "Mobile Safari/iOS"
    assert device.startswith("iPhone/17")
    assert parse_user_agent("  ") == ("", "")


def test_a_build_without_a_browser_version_says_no_more_than_the_browser_family() -> None:
    safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile Safari/116.0"
    chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0.6367.60"
    records = [
        ObservationRecord("o1", ("anon:a",), START, ip="86.1.2.3", user_agent=safari),
        ObservationRecord("o2", ("anon:b",), START, ip="86.1.2.3", user_agent=chrome),
        ObservationRecord(
            "o3", ("anon:c",), START, ip="86.1.2.3", ua_family="Mobile Safari/iOS", ua_device=""
        ),
        ObservationRecord(
            "o4", ("anon:d",), START, ip="86.1.2.3", ua_family="Safari/iOS", ua_device="iPad//17.4"
        ),
    ]

    profiles, _ = build_profiles(records)

    a, b, c, d = profiles
    assert a.ua_signatures == (("Mobile Safari/iOS", ""),) and a.ip_devices == ()
    assert b.ua_signatures == (("Chrome/Windows", "Other/124/10"),)
    assert b.ip_devices == (("86.1.2.3", "Chrome/Windows|Other/124/10"),)
    assert c.ip_devices == d.ip_devices == ()
    assert device_build("iPhone/None/17.4") == device_build("iPhone//17.4") == ""
    assert device_build("Other/124/10.None") == "Other/124/10"
    assert device_build("Pixel 8/116/14.1") == "Pixel 8/116/14.1"


def _pseudonymised(records: list[ObservationRecord]) -> list[ObservationRecord]:
    """The records as the service sees them: IPs and networks replaced by consistent opaque
    pseudonyms, the user agent parsed by ingest and not forwarded."""

    def opaque(prefix: str, value: str) -> str:
        return f"{prefix}:{hashlib.sha256(value.encode()).hexdigest()[:16]}" if value else ""

    out = []
    for record in records:
        family, device = parse_user_agent(record.user_agent)
        out.append(
            replace(
                record,
                ip=opaque("ip", record.ip),
                ip_network=opaque("net", ip_network(record.ip)),
                ua_family=family,
                ua_device=device,
                user_agent="",
            )
        )
    return out


def test_pseudonymised_ips_and_parsed_user_agents_give_the_same_links_and_weights() -> None:
    raw = generate(300, seed=4).observations
    opaque = _pseudonymised(raw)
    assert all(r.ip.startswith("ip:") and not r.user_agent for r in opaque if r.ip)
    linker = ProbabilisticLinker()

    raw_params, opaque_params = linker.fit(raw), linker.fit(opaque)
    raw_links = linker.links(raw, params=raw_params)
    opaque_links = linker.links(opaque, params=opaque_params)

    assert raw_links, "300 synthetic persons have pairs the linker links"
    assert [(a, b) for a, b, _ in opaque_links] == [(a, b) for a, b, _ in raw_links]
    assert [w for *_, w in opaque_links] == pytest.approx([w for *_, w in raw_links])
    assert opaque_params.match_prior == pytest.approx(raw_params.match_prior)
    for mine, theirs in zip(opaque_params.comparisons, raw_params.comparisons, strict=True):
        assert mine.m == pytest.approx(theirs.m)
        assert mine.u == pytest.approx(theirs.u)
    pairs = [(a, b) for a, b, _ in raw_links[:50]]
    for mine, theirs in zip(
        linker.score_pairs(opaque, pairs, opaque_params),
        linker.score_pairs(raw, pairs, raw_params),
        strict=True,
    ):
        assert mine.per_signal == pytest.approx(theirs.per_signal)


def logged_in_cookies(persons: int, login: bool) -> list[ObservationRecord]:
    """Each person's two cookies on two addresses of one /24, days apart; with `login`, each
    cookie is seen once with the person's user id."""
    records: list[ObservationRecord] = []
    for person in range(persons):
        for cookie in range(2):
            identifier = f"anon:p{person}-{cookie}"
            ip = f"10.{person // 200}.{person % 200}.{1 + cookie}"
            ua = f"Chrome/Windows|Device/{110 + cookie}/10"
            for n in range(3):
                ts = START + timedelta(days=10 * cookie + n, hours=person % 24)
                ids = (identifier, f"user:{person}") if login and n == 0 else (identifier,)
                records.append(
                    ObservationRecord(f"p{person}-{cookie}-{n}", ids, ts, ip=ip, user_agent=ua)
                )
    return records


def test_cookies_a_login_joins_teach_how_a_persons_devices_compare() -> None:
    linker = ProbabilisticLinker(ua_signature=synthetic_ua)
    web, _ = web_records()
    level = IP_DEVICE_LEVELS.index("same_network")

    def network_m(login: bool) -> float:
        params = linker.fit(web + logged_in_cookies(100, login))
        return params.comparisons[0].m[level]

    # Without logins nothing says these cookies match; with them, the pairs of one person's
    # cookies, all on one network and never on one IP, are labelled matches at that level.
    assert network_m(login=True) > 0.25 > network_m(login=False)


def _ip_device_levels(records: list[ObservationRecord], pairs: list[tuple[str, str]]) -> list[str]:
    linker = ProbabilisticLinker(ua_signature=synthetic_ua)
    prepared = linker.prepare(records)
    index = {p.identifier: k for k, p in enumerate(prepared.profiles)}
    a = np.asarray([index[x] for x, _ in pairs], dtype=np.int64)
    b = np.asarray([index[y] for _, y in pairs], dtype=np.int64)
    levels, _ = linker.comparisons[0].evaluate(prepared.features, a, b)
    return [IP_DEVICE_LEVELS[k] for k in levels.tolist()]


def _visit(obs: str, ids: tuple[str, ...], day: int, ip: str, ua: str) -> ObservationRecord:
    return ObservationRecord(obs, ids, START + timedelta(days=day), ip=ip, user_agent=ua)


def test_two_cookies_of_one_build_active_at_once_on_one_ip_are_two_devices() -> None:
    ua = "Chrome/Windows|Device/125/10"
    records = [
        _visit("1", ("anon:old",), 0, "81.2.69.1", ua),
        _visit("2", ("anon:new",), 3, "81.2.69.1", ua),
        _visit("3", ("anon:other",), 1, "81.2.69.1", ua),
        _visit("4", ("anon:other",), 4, "81.2.69.1", ua),
        _visit("5", ("user:7",), 2, "81.2.69.1", ua),
    ]

    levels = _ip_device_levels(
        records, [("anon:old", "anon:new"), ("anon:new", "anon:other"), ("anon:old", "user:7")]
    )

    assert levels == [
        "successive_same_ip_device",
        "concurrent_same_ip_device",
        "same_ip_device",
    ]


def test_how_a_persons_cookies_split_between_successive_and_concurrent_comes_from_labels() -> None:
    # Households whose two members use one build on the home IP at the same time, and
    # people whose replaced cookies a login joins: EM on the IP's pairs sees households,
    # the labelled pairs show that one person's cookies follow each other.
    ua = "Chrome/Windows|Device/125/10"
    records: list[ObservationRecord] = []
    for house in range(60):
        ip = f"81.2.{house}.1"
        for member in range(2):
            for n in range(6):
                cookie = f"anon:h{house}-{member}-{n // 3}"
                records.append(_visit(f"h{house}-{member}-{n}", (cookie,), 3 * n + member, ip, ua))
        for n in range(4):
            ids = (f"anon:p{house}-{n}", f"user:{house}")
            records.append(_visit(f"p{house}-{n}", ids, 40 + 5 * n, ip, ua))
    linker = ProbabilisticLinker(ua_signature=synthetic_ua)

    m = linker.fit(records).comparisons[0].m

    successive = IP_DEVICE_LEVELS.index("successive_same_ip_device")
    concurrent = IP_DEVICE_LEVELS.index("concurrent_same_ip_device")
    assert m[concurrent] < 0.1 * m[successive]


def test_a_build_several_identified_people_use_on_one_ip_says_less() -> None:
    def combo_frequency(second_build: str) -> float:
        records = [
            _visit("1", ("anon:a", "user:1"), 0, "81.2.69.1", "Chrome/Windows|Device/125/10"),
            _visit("2", ("anon:b", "user:2"), 0, "81.2.69.1", second_build),
            _visit("3", ("anon:c",), 0, "81.2.69.1", "Chrome/Windows|Device/125/10"),
        ] + [
            _visit(f"x{n}", (f"anon:x{n}",), 0, f"10.0.{n}.1", f"Firefox/Linux|Device/{n}/1")
            for n in range(200)
        ]
        features = ProbabilisticLinker(ua_signature=synthetic_ua).prepare(records).features
        signal = features.ip_device
        return float(signal.freq[signal.value[signal.offsets[0]]])

    # Two identified people on the IP: when both use the build, another cookie of that build
    # there may be either's, so the combination is as common as the IP itself.
    assert combo_frequency("Chrome/Windows|Device/125/10") > 10 * combo_frequency(
        "Safari/iOS|iPhone/18/18"
    )
