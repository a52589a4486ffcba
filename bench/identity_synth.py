"""Seeded synthetic identity observations with ground truth, and the traps that over-merge.

Persons have 1 to 4 personal devices whose cookies churn, log in on some of them, click
newsletters (hashed email), and some have CRM records (a duplicate with a typo or nickname).
Households share a home IP and often a family tablet; some couples share one email address.
Traps: kiosks used by dozens of people, family devices, help-desk emails typed into many CRM
records, couples' shared emails, carrier NAT and public Wi-Fi IPs shared by hundreds, offices
where colleagues share one browser build, and placeholder ids ("undefined", all-zero ids, the
SHA-256 of the empty string).

Ground truth: `truth` maps every identifier that belongs to one person to that person;
`unowned` lists the identifiers that belong to nobody in particular (kiosk and family-device
cookies, shared and help-desk emails, placeholders), which metrics leave out: where they land
does not matter, what they join does.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.identity.observations import ObservationRecord

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 90

FIRST_NAMES = [
    "James",
    "William",
    "Robert",
    "Thomas",
    "Richard",
    "Michael",
    "David",
    "John",
    "Daniel",
    "Matthew",
    "Oliver",
    "Harry",
    "George",
    "Jack",
    "Charlie",
    "Elizabeth",
    "Margaret",
    "Katherine",
    "Jennifer",
    "Sarah",
    "Emily",
    "Olivia",
    "Amelia",
    "Jessica",
    "Rebecca",
    "Charlotte",
    "Sophie",
    "Alexander",
    "Samuel",
    "Joseph",
    "Benjamin",
    "Victoria",
    "Alice",
    "Eleanor",
]
NICKNAMES = {
    "James": "Jim",
    "William": "Bill",
    "Robert": "Bob",
    "Thomas": "Tom",
    "Richard": "Dick",
    "Michael": "Mike",
    "David": "Dave",
    "Daniel": "Dan",
    "Matthew": "Matt",
    "Elizabeth": "Liz",
    "Margaret": "Maggie",
    "Katherine": "Kate",
    "Jennifer": "Jen",
    "Rebecca": "Becky",
    "Alexander": "Alex",
    "Samuel": "Sam",
    "Joseph": "Joe",
    "Benjamin": "Ben",
    "Victoria": "Vicky",
    "Eleanor": "Ellie",
}
LAST_NAMES = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Patel",
    "Khan",
    "Lewis",
    "James",
    "Hughes",
    "Edwards",
    "Harris",
    "Martin",
    "Turner",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
]
CITIES = ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol", "Cardiff", "York")
BROWSERS = (
    ("Windows NT 10.0; Win64; x64", "Chrome"),
    ("Macintosh; Intel Mac OS X 14_4", "Safari"),
    ("iPhone; CPU iPhone OS 17_4 like Mac OS X", "Mobile Safari"),
    ("Linux; Android 14; Pixel 8", "Chrome Mobile"),
    ("Windows NT 10.0; Win64; x64", "Firefox"),
    ("iPad; CPU OS 17_4 like Mac OS X", "Mobile Safari"),
)
PLACEHOLDER_USER_IDS = ("undefined", "null", "None", "anonymous", "0", "")
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass
class SynthData:
    """Observations in time order, and who each identifier really belongs to."""

    observations: list[ObservationRecord]
    truth: dict[str, str]
    unowned: dict[str, str] = field(default_factory=dict)


@dataclass
class _Person:
    pid: str
    first: str
    last: str
    city: str
    postcode: str
    dob: str
    home_ip: str
    user: str | None = None
    email: str | None = None
    phone_e164: str | None = None
    office: int | None = None


@dataclass
class _Device:
    owner: str | None
    ua: str
    mobile: bool
    cookies: list[tuple[datetime, str]] = field(default_factory=list)

    def cookie_at(self, ts: datetime) -> str:
        current = self.cookies[0][1]
        for start, cookie in self.cookies:
            if start <= ts:
                current = cookie
        return current


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class _Generator:
    def __init__(self, n_persons: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n_persons = n_persons
        self.obs: list[ObservationRecord] = []
        self.truth: dict[str, str] = {}
        self.unowned: dict[str, str] = {}
        self.anons_of: dict[str, list[str]] = {}
        self.counter = 0
        self.carrier_ips = [f"100.64.{i}.1" for i in range(4)]
        self.wifi_ips = [f"81.2.{i}.10" for i in range(max(3, n_persons // 400))]
        n_offices = max(2, n_persons // 200)
        self.office_ips = [f"194.66.{i}.20" for i in range(n_offices)]
        self.office_uas = [
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0.{6367 + i}.60"
            for i in range(n_offices)
        ]
        self.persons = [self._person(i) for i in range(n_persons)]

    # --- helpers -----------------------------------------------------------------------------

    def _ts(self) -> datetime:
        return START + timedelta(seconds=self.rng.randrange(DAYS * 86400))

    def _cookie(self) -> str:
        return f"{self.rng.getrandbits(64):016x}-{self.rng.getrandbits(32):08x}"

    def _emit(self, ts: datetime, identifiers: list[str], **signals: str) -> None:
        self.counter += 1
        self.obs.append(
            ObservationRecord(
                obs_id=f"o{self.counter}", identifiers=tuple(identifiers), ts=ts, **signals
            )
        )

    def _own(self, identifier: str, pid: str) -> str:
        self.truth[identifier] = pid
        if identifier.startswith("anon:"):
            self.anons_of.setdefault(pid, []).append(identifier)
        return identifier

    def _person(self, index: int) -> _Person:
        rng = self.rng
        pid = f"P{index:06d}"
        city = rng.choice(CITIES)
        person = _Person(
            pid=pid,
            first=rng.choice(FIRST_NAMES),
            last=rng.choice(LAST_NAMES),
            city=city,
            postcode=f"{city[:2].upper()}{rng.randrange(1, 30)} {rng.randrange(1, 10)}"
            f"{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTU')}",
            dob=f"{rng.randrange(1950, 2006)}-{rng.randrange(1, 13):02d}"
            f"-{rng.randrange(1, 29):02d}",
            home_ip=f"86.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        )
        if rng.random() < 0.6:
            person.user = self._own(f"user:u{index}", pid)
        if rng.random() < 0.75:
            person.email = self._own(f"email:{_sha(f'{pid.lower()}@mail.example')}", pid)
        if rng.random() < 0.45:
            person.phone_e164 = f"+447{rng.randrange(10**8, 10**9)}"
            self._own(f"phone:{_sha(person.phone_e164)}", pid)
        if rng.random() < 0.25:
            person.office = rng.randrange(len(self.office_ips))
        return person

    def _device(self, owner: str | None, mobile: bool | None = None) -> _Device:
        rng = self.rng
        platform, family = rng.choice(BROWSERS)
        is_mobile = ("iPhone" in platform or "Android" in platform) if mobile is None else mobile
        ua = f"Mozilla/5.0 ({platform}) {family}/{rng.randrange(110, 126)}.0"
        device = _Device(owner, ua, is_mobile)
        start = START - timedelta(days=1)
        device.cookies.append((start, self._cookie()))
        churn = rng.choice((0, 0, 1, 1, 2, 3))
        for _ in range(churn):
            device.cookies.append((self._ts(), self._cookie()))
        device.cookies.sort()
        return device

    def _signals(self, person: _Person, device: _Device, ts: datetime) -> dict[str, str]:
        rng = self.rng
        roll = rng.random()
        ua = device.ua
        if device.mobile and roll < 0.5:
            ip = rng.choice(self.carrier_ips)
        elif roll < 0.62:
            ip = rng.choice(self.wifi_ips)
        elif person.office is not None and not device.mobile and roll < 0.85:
            ip = self.office_ips[person.office]
            ua = self.office_uas[person.office]
        else:
            ip = person.home_ip
        return {"ip": ip, "user_agent": ua, "geo_city": person.city, "source": "web"}

    # --- scenario ----------------------------------------------------------------------------

    def generate(self) -> SynthData:
        households = self._households()
        for person in self.persons:
            self._personal_devices(person)
            self._crm(person)
        for members in households:
            if len(members) > 1 and self.rng.random() < 0.7:
                self._family_device(members)
        self._couples(households)
        self._kiosks()
        self._placeholders()
        self.obs.sort(key=lambda o: (o.ts or START, o.obs_id))
        seen = {identifier for obs in self.obs for identifier in obs.identifiers}
        truth = {i: p for i, p in self.truth.items() if i in seen}
        unowned = {i: why for i, why in self.unowned.items() if i in seen}
        return SynthData(self.obs, truth, unowned)

    def _households(self) -> list[list[_Person]]:
        rng = self.rng
        people = list(self.persons)
        rng.shuffle(people)
        households: list[list[_Person]] = []
        i = 0
        while i < len(people):
            size = rng.choice((1, 1, 1, 2, 2, 3, 4))
            members = people[i : i + size]
            for member in members[1:]:
                member.home_ip = members[0].home_ip
                member.last = members[0].last if rng.random() < 0.7 else member.last
                member.postcode = members[0].postcode
                member.city = members[0].city
            households.append(members)
            i += size
        return households

    def _personal_devices(self, person: _Person) -> None:
        rng = self.rng
        for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4))):
            device = self._device(person.pid)
            for _, cookie in device.cookies:
                self._own(f"anon:{cookie}", person.pid)
            logs_in = person.user is not None and rng.random() < 0.7
            for _ in range(rng.randrange(2, 9)):
                ts = self._ts()
                anon = f"anon:{device.cookie_at(ts)}"
                signals = self._signals(person, device, ts)
                roll = rng.random()
                if logs_in and roll < 0.35 and person.user is not None:
                    ids = [anon, person.user]
                    if person.email is not None and rng.random() < 0.5:
                        ids.append(person.email)
                    self._emit(ts, ids, event="login", **signals)
                elif person.email is not None and roll < 0.45:
                    self._emit(ts, [anon, person.email], event="newsletter_click", **signals)
                elif person.phone_e164 is not None and roll < 0.48:
                    phone = _sha(person.phone_e164)
                    self._emit(
                        ts,
                        [anon, f"phone:{phone}"],
                        event="checkout",
                        phone_sha256=phone,
                        **signals,
                    )
                else:
                    self._emit(ts, [anon], event="page_view", **signals)

    def _crm(self, person: _Person) -> None:
        rng = self.rng
        if rng.random() >= 0.3:
            return
        records = 1 + (rng.random() < 0.15)
        for copy in range(records):
            crm = self._own(f"crm:c{person.pid[1:]}-{copy}", person.pid)
            first, last = person.first, person.last
            ids = [crm]
            if copy == 0:
                if person.user is not None and rng.random() < 0.5:
                    ids.append(person.user)
                if rng.random() < 0.08:
                    helpdesk = f"email:{_sha(f'helpdesk{rng.randrange(2)}@shop.example')}"
                    self.unowned[helpdesk] = "help-desk email"
                    ids.append(helpdesk)
                elif person.email is not None:
                    ids.append(person.email)
            else:
                first = NICKNAMES.get(first, first) if rng.random() < 0.5 else _typo(rng, first)
                last = _typo(rng, last) if rng.random() < 0.5 else last
            phone = ""
            if person.phone_e164 is not None and (copy == 0 or rng.random() < 0.3):
                phone = _sha(person.phone_e164)
                ids.append(f"phone:{phone}")
            self._emit(
                self._ts(),
                ids,
                source="crm",
                event="crm_record",
                first_name=first,
                last_name=last,
                postcode=person.postcode,
                phone_sha256=phone,
                date_of_birth=person.dob,
                geo_city=person.city,
            )

    def _family_device(self, members: list[_Person]) -> None:
        rng = self.rng
        device = self._device(None, mobile=False)
        for _, cookie in device.cookies:
            self.unowned[f"anon:{cookie}"] = "family device"
        for member in members:
            for _ in range(rng.randrange(1, 6)):
                ts = self._ts()
                anon = f"anon:{device.cookie_at(ts)}"
                signals = {"ip": member.home_ip, "user_agent": device.ua, "geo_city": member.city}
                if member.user is not None and rng.random() < 0.4:
                    ids = [anon, member.user]
                    if member.email is not None and rng.random() < 0.5:
                        ids.append(member.email)
                    self._emit(ts, ids, event="login", source="web", **signals)
                else:
                    self._emit(ts, [anon], event="page_view", source="web", **signals)

    def _couples(self, households: list[list[_Person]]) -> None:
        rng = self.rng
        for members in households:
            if len(members) != 2 or rng.random() >= 0.3:
                continue
            shared = (
                f"email:{_sha(f'{members[0].last.lower()}.family{members[0].pid}@mail.example')}"
            )
            self.unowned[shared] = "couple's shared email"
            for member in members:
                device = self._device(member.pid)
                for _, cookie in device.cookies:
                    self._own(f"anon:{cookie}", member.pid)
                for _ in range(rng.randrange(2, 6)):
                    ts = self._ts()
                    ids = [f"anon:{device.cookie_at(ts)}", shared]
                    if member.user is not None and rng.random() < 0.5:
                        ids.append(member.user)
                    event = "login" if len(ids) > 2 else "newsletter_click"
                    self._emit(ts, ids, event=event, **self._signals(member, device, ts))

    def _kiosks(self) -> None:
        rng = self.rng
        for k in range(max(2, self.n_persons // 500)):
            cookie = f"anon:kiosk-{k}-{self._cookie()}"
            self.unowned[cookie] = "kiosk"
            ip = f"81.2.200.{k + 1}"
            ua = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 KioskMode"
            for person in rng.sample(self.persons, rng.randrange(30, 61)):
                ts = self._ts()
                signals = {"ip": ip, "user_agent": ua, "geo_city": person.city, "source": "web"}
                roll = rng.random()
                if person.user is not None and roll < 0.5:
                    self._emit(ts, [cookie, person.user], event="login", **signals)
                elif person.email is not None and roll < 0.8:
                    self._emit(ts, [cookie, person.email], event="signup", **signals)
                else:
                    self._emit(ts, [cookie], event="page_view", **signals)

    def _placeholders(self) -> None:
        rng = self.rng
        for placeholder in PLACEHOLDER_USER_IDS:
            self.unowned[f"user:{placeholder}"] = "placeholder"
        self.unowned[f"anon:{ZERO_UUID}"] = "placeholder"
        self.unowned[f"email:{EMPTY_SHA256}"] = "placeholder"
        for person in rng.sample(self.persons, max(1, self.n_persons // 20)):
            ts = self._ts()
            own = self.anons_of.get(person.pid, [])
            anon = own[0] if own else f"anon:{ZERO_UUID}"
            bad = rng.choice(
                (
                    f"user:{rng.choice(PLACEHOLDER_USER_IDS)}",
                    f"anon:{ZERO_UUID}",
                    f"email:{EMPTY_SHA256}",
                )
            )
            self._emit(ts, [anon, bad], event="identify", source="web")


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 3:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + rng.choice("aeiourstn") + word[i + 1 :]


def generate(n_persons: int = 5000, seed: int = 1) -> SynthData:
    """Observations and ground truth for `n_persons` persons; the same for the same seed."""
    return _Generator(n_persons, seed).generate()


__all__ = ["SynthData", "generate"]
