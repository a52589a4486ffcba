"""CRM-record matching: keying errors, swapped names, blocking passes, mixed records."""

from __future__ import annotations

from services.identity.observations import ObservationRecord
from services.identity.probabilistic import ProbabilisticLinker
from services.identity.probabilistic.blocking import DEFAULT_BLOCKING_RULES, block
from services.identity.probabilistic.profiles import build_profiles
from services.identity.probabilistic.strings import one_typo_apart, similar_dates


def test_one_keying_error_is_one_wrong_character_or_two_adjacent_swapped() -> None:
    assert one_typo_apart("2256", "2257")
    assert one_typo_apart("2256", "2526")
    assert not one_typo_apart("2256", "6252")
    assert not one_typo_apart("2256", "2256")
    assert not one_typo_apart("2256", "22566")


def test_dates_one_keying_error_apart_keep_their_year() -> None:
    assert similar_dates("19560409", "19560904"), "day and month swapped"
    assert similar_dates("1956-04-09", "1956-04-08")
    assert similar_dates("19560419", "19560491")
    assert not similar_dates("19770717", "19870717"), "another year is another person"
    assert not similar_dates("19560409", "19561231")
    assert not similar_dates("19560409", "")


def _record(n: int, first: str, last: str, postcode: str, dob: str) -> ObservationRecord:
    return ObservationRecord(
        f"r{n}",
        (f"crm:{n}",),
        first_name=first,
        last_name=last,
        postcode=postcode,
        date_of_birth=dob,
    )


def test_records_with_errors_in_two_fields_still_meet_in_a_block() -> None:
    pairs = [
        (("thomas", "rokobaro", "2272", ""), ("rokobaro", "thomas", "2227", "")),
        (("oliver", "rickett", "2256", "19431020"), ("oliver", "rickett", "2526", "19431020")),
        (("jessica", "ballantyne", "4213", ""), ("ballantyne", "jessica", "4213", "19931103")),
        (("amelia", "kimmonth", "2012", "19700101"), ("amelia", "kimonth", "2021", "19700110")),
    ]
    records = [
        _record(2 * i + side, *fields)
        for i, pair in enumerate(pairs)
        for side, fields in enumerate(pair)
    ]
    profiles, _ = build_profiles(records)
    index = {p.identifier: k for k, p in enumerate(profiles)}

    result = block(profiles, DEFAULT_BLOCKING_RULES, max_block_size=50)

    found = set(zip(result.a.tolist(), result.b.tolist(), strict=True))
    for i in range(len(pairs)):
        a, b = sorted((index[f"crm:{2 * i}"], index[f"crm:{2 * i + 1}"]))
        assert (a, b) in found, pairs[i]


def test_swapped_names_typos_in_postcode_and_date_weigh_for_a_match() -> None:
    records = []
    for person in range(200):
        first = ["ann", "bob", "cara", "dev", "emil", "fay", "gus", "hana"][person % 8]
        last = f"surname{chr(97 + person % 26)}{chr(97 + person // 26)}x"
        postcode = f"{1000 + 37 * person}"
        dob = f"19{40 + person % 60}0{1 + person % 9}{10 + person % 18}"
        records.append(_record(2 * person, first, last, postcode, dob))
        if person % 3 == 0:
            twin = (last, first, postcode, dob)
        elif person % 3 == 1:
            twin = (first, last, postcode[:2] + postcode[3] + postcode[2], dob)
        else:
            twin = (first, last, postcode, dob[:4] + dob[6:] + dob[4:6])
        records.append(_record(2 * person + 1, *twin))
    linker = ProbabilisticLinker()
    params = linker.fit(records)
    weights = {c.name: c.log2_bayes_factors() for c in params.comparisons}

    assert weights["first_name"][2] > 0 and weights["last_name"][2] > 0, "swapped"
    assert weights["postcode"][2] > 0, "one typo apart"
    assert weights["date_of_birth"][1] > 0, "day and month swapped"
    linked = {(a, b) for a, b, _ in linker.links(records, params=params)}
    right = {(f"crm:{2 * p}", f"crm:{2 * p + 1}") for p in range(200)}
    assert len(linked & right) >= 0.95 * len(right)
    assert linked <= right


def test_an_identifier_whose_records_name_two_people_compares_on_no_person_field() -> None:
    mailbox = "email:family"
    records = [
        ObservationRecord(
            "r1",
            ("crm:1", mailbox),
            first_name="Ann",
            last_name="Lee",
            postcode="2000",
            date_of_birth="19700101",
        ),
        ObservationRecord(
            "r2",
            ("crm:2", mailbox),
            first_name="Tom",
            last_name="Lee",
            postcode="2000",
            date_of_birth="19720505",
        ),
        ObservationRecord(
            "r3",
            ("crm:3", "email:ann"),
            first_name="Ann",
            last_name="Lee",
            postcode="2000",
            date_of_birth="19700101",
        ),
        ObservationRecord(
            "r4",
            ("crm:4", "email:ann2"),
            first_name="Annie",
            last_name="Lee",
            postcode="2000",
            date_of_birth="19700101",
        ),
    ]

    profiles = {p.identifier: p for p in build_profiles(records)[0]}

    family = profiles[mailbox]
    assert (family.first_name, family.last_name, family.postcode, family.date_of_birth) == (
        "",
        "",
        "",
        "",
    )
    assert profiles["crm:1"].first_name == "ann"
    assert profiles["email:ann"].date_of_birth == "19700101"
