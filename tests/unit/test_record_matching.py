"""CRM-record matching: keying errors, swapped names, blocking passes, mixed records."""

from __future__ import annotations

import numpy as np

from services.identity.observations import ObservationRecord
from services.identity.probabilistic import LinkerConfig, ProbabilisticLinker
from services.identity.probabilistic.blocking import DEFAULT_BLOCKING_RULES, block
from services.identity.probabilistic.comparisons import DEFAULT_COMPARISONS, NULL_LEVEL
from services.identity.probabilistic.features import encode_profiles
from services.identity.probabilistic.profiles import build_profiles
from services.identity.probabilistic.strings import (
    normalise_address,
    normalise_place,
    one_typo_apart,
    similar_dates,
)


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


def _levels(records: list[ObservationRecord], name: str, pairs: list[tuple[str, str]]) -> list[str]:
    """The level names of comparison `name` for identifier pairs ("null" when missing)."""
    profiles, _ = build_profiles(records)
    index = {p.identifier: k for k, p in enumerate(profiles)}
    features = encode_profiles(profiles, LinkerConfig(), np.arange(len(profiles)))
    comparison = next(c for c in DEFAULT_COMPARISONS if c.name == name)
    a = np.asarray([index[x] for x, _ in pairs], dtype=np.int64)
    b = np.asarray([index[y] for _, y in pairs], dtype=np.int64)
    levels, _ = comparison.evaluate(features, a, b)
    return ["null" if k == NULL_LEVEL else comparison.levels[k] for k in levels.tolist()]


def _crm(n: int, **fields: str) -> ObservationRecord:
    return ObservationRecord(f"r{n}", (f"crm:{n}",), **fields)


def test_address_lines_are_normalised_and_compare_exact_close_similar_or_else() -> None:
    records = [
        _crm(1, address_1="Wallaby  Place."),
        _crm(2, address_1="wallaby place"),
        _crm(3, address_1="wallaby plcae"),
        _crm(4, address_1="wallaby street"),
        _crm(5, address_1="hoseason street"),
        _crm(6, first_name="ann"),
    ]
    pairs = [("crm:1", f"crm:{n}") for n in range(2, 7)]

    assert normalise_address("12 Wallaby  Place.") == "12 wallaby place"
    assert _levels(records, "address_1", pairs) == ["exact", "close", "similar", "else", "null"]


def test_national_ids_compare_exact_one_keying_error_apart_or_else() -> None:
    records = [
        _crm(1, national_id="1804974"),
        _crm(2, national_id="1804 974"),
        _crm(3, national_id="1809474"),
        _crm(4, national_id="1804975"),
        _crm(5, national_id="6089216"),
        _crm(6),
    ]
    pairs = [("crm:1", f"crm:{n}") for n in range(2, 7)]

    assert _levels(records, "national_id", pairs) == ["exact", "typo", "typo", "else", "null"]


def test_street_numbers_and_states_compare_exact_or_else() -> None:
    records = [
        _crm(1, street_number="7", state="NSW"),
        _crm(2, street_number="7", state="nsw"),
        _crm(3, street_number="17", state="vic"),
        _crm(4),
    ]
    pairs = [("crm:1", "crm:2"), ("crm:1", "crm:3"), ("crm:1", "crm:4")]

    assert _levels(records, "street_number", pairs) == ["exact", "else", "null"]
    assert _levels(records, "state", pairs) == ["exact", "else", "null"]


def test_records_wrong_in_names_date_and_postcode_meet_by_national_id_or_street() -> None:
    records = [
        _crm(1, first_name="elle", last_name="millpar", postcode="3104", national_id="2679526"),
        _crm(2, first_name="monique", last_name="millar", postcode="3140", national_id="2679526"),
        _crm(
            3,
            first_name="tia",
            last_name="georfe",
            postcode="2142",
            street_number="6",
            address_1="trainer court",
        ),
        _crm(
            4,
            first_name="grace",
            last_name="",
            postcode="2125",
            street_number="6",
            address_1="trainercourt",
        ),
    ]
    profiles, _ = build_profiles(records)
    index = {p.identifier: k for k, p in enumerate(profiles)}

    result = block(profiles, DEFAULT_BLOCKING_RULES, max_block_size=50)

    found = set(zip(result.a.tolist(), result.b.tolist(), strict=True))
    assert tuple(sorted((index["crm:1"], index["crm:2"]))) in found, "national id"
    assert tuple(sorted((index["crm:3"], index["crm:4"]))) in found, "street number and sound"


def test_two_national_ids_make_an_identifier_compare_on_no_person_field() -> None:
    mailbox = "email:family"
    records = [
        ObservationRecord("r1", ("crm:1", mailbox), first_name="Ann", national_id="1111111"),
        ObservationRecord("r2", ("crm:2", mailbox), first_name="Ann", national_id="2222222"),
    ]

    profiles = {p.identifier: p for p in build_profiles(records)[0]}

    assert (profiles[mailbox].first_name, profiles[mailbox].national_id) == ("", "")
    assert profiles["crm:1"].national_id == "1111111"


def test_address_and_national_id_link_records_whose_names_and_dates_are_garbled() -> None:
    firsts = ["ann", "bob", "cara", "dev", "emil", "fay", "gus", "hana", "ivo", "jill"]
    streets = ["wallaby place", "kent street", "hoseason street", "gundulu place", "yuranigh ct"]
    records = []
    for person in range(300):
        fields = {
            "first_name": firsts[person % 10],
            "last_name": f"surname{chr(97 + person % 26)}{chr(97 + person // 26)}x",
            "postcode": f"{1000 + 37 * person}",
            "date_of_birth": f"19{40 + person % 60}0{1 + person % 9}{10 + person % 18}",
            "street_number": str(1 + person % 97),
            "address_1": streets[person % 5],
            "state": ["nsw", "vic", "qld"][person % 3],
            "national_id": f"{1000003 + 7919 * person}",
        }
        records.append(_crm(2 * person, **fields))
        twin = dict(fields)
        if person % 4 == 0:  # a typo in three person-level fields
            twin["first_name"] = twin["first_name"][::-1] + "q"
            twin["last_name"] = "zz" + twin["last_name"][3:]
            twin["date_of_birth"] = ""
        records.append(_crm(2 * person + 1, **twin))
        if person % 5 == 0:  # a household member: same address, another person
            records.append(
                _crm(
                    10_000 + person,
                    **{
                        **fields,
                        "first_name": "other" + firsts[person % 10],
                        "date_of_birth": "20010203",
                        "national_id": f"{9000001 + 13 * person}",
                    },
                )
            )
    linker = ProbabilisticLinker()

    linked = {tuple(sorted((a, b))) for a, b, _ in linker.links(records)}

    right = {(f"crm:{2 * p}", f"crm:{2 * p + 1}") for p in range(300)}
    garbled = {pair for pair in right if int(pair[0][4:]) % 8 == 0}
    assert garbled <= linked, "three fields wrong, the address and national id still agree"
    assert linked <= right, "a household member sharing the address is not linked"


def test_place_names_ignore_case_spaces_punctuation_and_accents() -> None:
    assert normalise_place("St. Kilda  East") == "stkildaeast"
    assert normalise_place("st kilda east") == "stkildaeast"
    assert normalise_place("Nouméa") == "noumea"


def test_cities_compare_exact_however_spaced_similar_with_a_typo_or_else() -> None:
    records = [
        _crm(1, geo_city="North Ryde"),
        _crm(2, geo_city="northryde"),
        _crm(3, geo_city="north rdye"),
        _crm(4, geo_city="Newtown"),
        _crm(5, first_name="ann"),
    ]
    pairs = [("crm:1", f"crm:{n}") for n in range(2, 6)]

    assert _levels(records, "geo_city", pairs) == ["exact", "similar", "else", "null"]


def test_a_typo_in_a_city_among_several_is_similar() -> None:
    records = [
        ObservationRecord("r1", ("anon:1",), geo_city="Leeds"),
        ObservationRecord("r2", ("anon:1",), geo_city="Blacktown"),
        ObservationRecord("r3", ("anon:2",), geo_city="Blackown"),
        ObservationRecord("r4", ("anon:2",), geo_city="Perth"),
        ObservationRecord("r5", ("anon:3",), geo_city="Perth"),
        ObservationRecord("r6", ("anon:3",), geo_city="Leeds"),
    ]
    pairs = [("anon:1", "anon:2"), ("anon:1", "anon:3"), ("anon:2", "anon:3")]

    assert _levels(records, "geo_city", pairs) == ["similar", "exact", "exact"]


def test_records_with_swapped_names_meet_in_a_city_spelled_with_a_space() -> None:
    records = [
        _crm(1, first_name="danielle", last_name="zehetner", postcode="2095", geo_city="tatura"),
        _crm(2, first_name="zehrtner", last_name="danielle", postcode="0295", geo_city="tatu ra"),
    ]
    profiles, _ = build_profiles(records)

    result = block(profiles, DEFAULT_BLOCKING_RULES, max_block_size=50)

    assert set(result.by_rule) == {"city_name_soundex"}
    assert (result.a.tolist(), result.b.tolist()) == ([0], [1])


def test_a_typo_in_the_city_weighs_for_a_match() -> None:
    records = []
    cities = ["blacktown", "longreach", "kyabram", "bucasia", "munruben", "wendouree"]
    for person in range(240):
        fields = {
            "first_name": ["ann", "bob", "cara", "dev", "emil", "fay", "gus", "hana"][person % 8],
            "last_name": f"surname{chr(97 + person % 26)}{chr(97 + person // 26)}x",
            "postcode": f"{1000 + 37 * person}",
            "date_of_birth": f"19{40 + person % 60}0{1 + person % 9}{10 + person % 18}",
            "geo_city": f"{cities[person % 6]}{chr(97 + person % 23)}{chr(97 + person // 23)}",
        }
        records.append(_crm(2 * person, **fields))
        city = fields["geo_city"]
        records.append(_crm(2 * person + 1, **{**fields, "geo_city": city[:3] + city[4:]}))
    linker = ProbabilisticLinker()

    params = linker.fit(records)

    weights = {c.name: c.log2_bayes_factors() for c in params.comparisons}
    assert weights["geo_city"][1] > 0, "similar"


def test_records_wrong_in_both_names_and_the_postcode_meet_by_date_of_birth_and_city() -> None:
    records = [
        _crm(
            1,
            first_name="tia",
            last_name="georfe",
            postcode="2142",
            date_of_birth="19180820",
            geo_city="Eight Mile Plains",
        ),
        _crm(
            2,
            first_name="grace",
            last_name="rixqers",
            postcode="2125",
            date_of_birth="19180820",
            geo_city="eight mile plains",
        ),
    ]
    profiles, _ = build_profiles(records)

    result = block(profiles, DEFAULT_BLOCKING_RULES, max_block_size=50)

    assert set(result.by_rule) == {"dob_city"}
    assert (result.a.tolist(), result.b.tolist()) == ([0], [1])
