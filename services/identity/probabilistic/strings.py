"""Names, postcodes and dates: normalisation, Jaro-Winkler similarity, nicknames, Soundex, typos."""

from __future__ import annotations

import unicodedata
from functools import lru_cache


def jaro(a: str, b: str) -> float:
    """Jaro similarity in [0, 1]."""
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    window = max(max(la, lb) // 2 - 1, 0)
    a_hit = [False] * la
    b_hit = [False] * lb
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(i + window + 1, lb)):
            if not b_hit[j] and b[j] == ch:
                a_hit[i] = b_hit[j] = True
                matches += 1
                break
    if not matches:
        return 0.0
    half_transpositions = 0
    j = 0
    for i in range(la):
        if a_hit[i]:
            while not b_hit[j]:
                j += 1
            half_transpositions += a[i] != b[j]
            j += 1
    t = half_transpositions / 2
    return (matches / la + matches / lb + (matches - t) / matches) / 3


def jaro_winkler(a: str, b: str, prefix_scale: float = 0.1, boost_threshold: float = 0.7) -> float:
    """Jaro-Winkler similarity: Jaro boosted by a common prefix of up to 4 characters."""
    sim = jaro(a, b)
    if sim <= boost_threshold:
        return sim
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return sim + prefix * prefix_scale * (1.0 - sim)


_NICKNAMES: dict[str, tuple[str, ...]] = {
    "robert": ("bob", "bobby", "rob", "robbie", "bert"),
    "william": ("bill", "billy", "will", "willie", "liam"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "eliza", "libby"),
    "katherine": ("kate", "katie", "kathy", "kat", "catherine", "kathryn", "cathy"),
    "james": ("jim", "jimmy", "jamie"),
    "michael": ("mike", "mikey", "mick"),
    "richard": ("rick", "ricky", "dick", "rich"),
    "thomas": ("tom", "tommy"),
    "david": ("dave", "davy"),
    "christopher": ("chris", "kit"),
    "christine": ("chris", "chrissy", "tina"),
    "daniel": ("dan", "danny"),
    "samuel": ("sam", "sammy"),
    "samantha": ("sam", "sammy"),
    "benjamin": ("ben", "benny"),
    "joseph": ("joe", "joey"),
    "anthony": ("tony",),
    "stephen": ("steve", "steven"),
    "andrew": ("andy", "drew"),
    "alexander": ("alex", "sandy"),
    "alexandra": ("alex", "sandra", "sandy"),
    "matthew": ("matt",),
    "nicholas": ("nick", "nicky"),
    "patrick": ("pat", "paddy"),
    "patricia": ("pat", "patty", "trish"),
    "margaret": ("maggie", "meg", "peggy", "peg", "marge"),
    "susan": ("sue", "susie"),
    "jennifer": ("jen", "jenny"),
    "jessica": ("jess", "jessie"),
    "rebecca": ("becky", "becca"),
    "edward": ("ed", "eddie", "ted", "ned"),
    "charles": ("charlie", "chuck"),
    "jonathan": ("jon", "jonny"),
    "victoria": ("vicky", "tori"),
    "deborah": ("deb", "debbie"),
}
_NICKNAME_GROUPS: dict[str, frozenset[str]] = {}
for _canonical, _variants in _NICKNAMES.items():
    for _name in (_canonical, *_variants):
        _NICKNAME_GROUPS[_name] = _NICKNAME_GROUPS.get(_name, frozenset()) | {_canonical}


def same_given_name(a: str, b: str, threshold: float = 0.9) -> bool:
    """True when two normalised first names are nicknames of one name or close by Jaro-Winkler."""
    groups = _NICKNAME_GROUPS.get(a, frozenset({a})) & _NICKNAME_GROUPS.get(b, frozenset({b}))
    return bool(groups) or jaro_winkler(a, b) >= threshold


_SOUNDEX_CODES = {
    ch: digit
    for digit, letters in (
        ("1", "BFPV"),
        ("2", "CGJKQSXZ"),
        ("3", "DT"),
        ("4", "L"),
        ("5", "MN"),
        ("6", "R"),
    )
    for ch in letters
}


def soundex(name: str) -> str:
    """American Soundex code ("Robert" → "R163"); "" for a name without ASCII letters."""
    letters = [ch for ch in name.upper() if "A" <= ch <= "Z"]
    if not letters:
        return ""
    code = [letters[0]]
    previous = _SOUNDEX_CODES.get(letters[0], "")
    for ch in letters[1:]:
        digit = _SOUNDEX_CODES.get(ch, "")
        if digit and digit != previous:
            code.append(digit)
            if len(code) == 4:
                break
        if ch not in "HW":
            previous = digit
    return "".join(code).ljust(4, "0")


@lru_cache(maxsize=1 << 16)
def normalise_name(name: str) -> str:
    """Lower-case letters only, accents removed ("O'Brien" → "obrien", "José" → "jose")."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if ch.isalpha())


@lru_cache(maxsize=1 << 16)
def normalise_code(code: str) -> str:
    """Upper-case alphanumerics only ("sw1a 1aa" → "SW1A1AA"): postcodes, street numbers,
    states, national identity numbers."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


normalise_postcode = normalise_code


@lru_cache(maxsize=1 << 16)
def normalise_place(name: str) -> str:
    """A place name (city, suburb) in lower case, accents, spaces and punctuation removed
    ("St. Kilda East" and "st kilda  east" → "stkildaeast"), so that how words were spaced
    or punctuated does not make two places."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum())


@lru_cache(maxsize=1 << 16)
def normalise_address(line: str) -> str:
    """An address line in lower case, accents removed, words of letters and digits separated
    by one space ("12  Kent St." → "12 kent st")."""
    decomposed = unicodedata.normalize("NFKD", line.casefold())
    kept = "".join(
        ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.combining(ch)
    )
    return " ".join(kept.split())


def postcode_district(postcode: str) -> str:
    """The UK outward code of a normalised postcode ("SW1A1AA" → "SW1A"), else a 3-char prefix."""
    if len(postcode) >= 5 and postcode[-3].isdigit() and postcode[-2:].isalpha():
        return postcode[:-3]
    return postcode[:3] if len(postcode) > 3 else ""


def one_typo_apart(a: str, b: str) -> bool:
    """True when two different strings of one length differ in one character or in two
    adjacent characters swapped ("2256" and "2526"), the commonest keying errors."""
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diff) == 1:
        return True
    if len(diff) != 2 or diff[1] != diff[0] + 1:
        return False
    first, second = diff
    return a[first] == b[second] and a[second] == b[first]


def similar_dates(a: str, b: str) -> bool:
    """True when two different dates of birth have the same year and a day and month one
    keying error apart: one digit wrong, two adjacent digits swapped, or day and month
    swapped (19560409 and 19560904). Separators are ignored; dates are read year first.
    Another year is not a typo here: a parent and a child of one name differ by it."""
    da = "".join(ch for ch in a if ch.isdigit())
    db = "".join(ch for ch in b if ch.isdigit())
    if len(da) != 8 or len(db) != 8 or da == db or da[:4] != db[:4]:
        return False
    return one_typo_apart(da[4:], db[4:]) or (da[4:6] == db[6:] and da[6:] == db[4:6])


def birth_dates_of_two_people(a: str, b: str) -> bool:
    """True when two dates of birth cannot be one person's: both are full dates (8 digits,
    separators ignored) that are not equal, not `similar_dates` and not one keying error
    apart anywhere, the year included (19561204 and 19651204 may be one date keyed twice;
    19561204 and 19841204 are a parent and a child)."""
    da = "".join(ch for ch in a if ch.isdigit())
    db = "".join(ch for ch in b if ch.isdigit())
    if len(da) != 8 or len(db) != 8 or da == db:
        return False
    return not (one_typo_apart(da, db) or similar_dates(a, b))
