"""A second synthetic web-identity world, written from other assumptions than `identity_synth`.

It exists to measure identity resolution on data its defaults were not chosen on, and shares
no code with `identity_synth`. What it assumes:

- Households of 1 to 6 (a US-like size distribution; partners, children of 13 to 24,
  roommates with other surnames) share a home IP that the ISP reassigns every 10 to 60 days;
  some share a family computer or tablet, whose cookies belong to nobody.
- Away from Wi-Fi, phones go out through their carrier's NAT pool: a few addresses per
  carrier, each shared by hundreds of persons at 2,000 (thousands at full scale). Offices
  (one or two egress addresses, managed browsers of one build), campuses (a pool per
  university) and public Wi-Fi hotspots are shared networks too.
- Browsers keep a cookie for 1 to 30 days (Safari at most 7); the shop's app keeps its
  install id and sends the user id once logged in. User agents are the reduced strings
  browsers send today, so many devices send the same one; Chrome updates every 4 weeks.
- Persons have 1 to 3 emails (personal, work or school, an older one) and 0 to 2 phones,
  typed in whatever format a form takes; some households read one family mailbox.
- The shop's CRM holds a record per customer, and some customers two or three: nicknames,
  typos, a moved address, another email or phone, a date of birth left out or swapped.

The output is what `convtrack identity resolve-file` reads: one JSON object per observation
with raw emails and US phone numbers (`--default-region US`), in time order, and the owner
of each raw identifier value (`owners`) or why nobody owns it (`shared`).
"""

from __future__ import annotations

import json
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DEFAULT_REGION = "US"
START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
DAYS = 84
APP_NAME = "ShopApp"

HOUSEHOLD_SIZES = (1, 2, 3, 4, 5, 6)
HOUSEHOLD_WEIGHTS = (28, 34, 15, 13, 6, 4)
EMAIL_COUNTS, EMAIL_WEIGHTS = (1, 2, 3), (50, 35, 15)
PHONE_COUNTS, PHONE_WEIGHTS = (0, 1, 2), (30, 55, 15)
CARRIER_SHARES = (0.45, 0.35, 0.20)

# (city, first three ZIP digits, area codes, UTC offset in hours; no daylight saving)
CITIES = (
    ("Columbus", "432", ("614", "380"), -5),
    ("Raleigh", "276", ("919", "984"), -5),
    ("Nashville", "372", ("615", "629"), -6),
    ("Minneapolis", "554", ("612", "651"), -6),
    ("Denver", "802", ("303", "720"), -7),
    ("Phoenix", "850", ("602", "480"), -7),
    ("Portland", "972", ("503", "971"), -8),
    ("Sacramento", "958", ("916", "279"), -8),
)
NICKNAMES = {
    "Christopher": ("Chris",),
    "Elizabeth": ("Liz", "Beth"),
    "Jennifer": ("Jen", "Jenny"),
    "Michael": ("Mike",),
    "William": ("Will", "Bill"),
    "Robert": ("Rob", "Bob"),
    "Katherine": ("Kate", "Katie"),
    "Margaret": ("Peggy", "Maggie"),
    "Anthony": ("Tony",),
    "Joseph": ("Joe",),
    "Daniel": ("Dan",),
    "Jonathan": ("Jon",),
    "Rebecca": ("Becky",),
    "Patricia": ("Pat", "Trish"),
    "Alexander": ("Alex",),
    "Nicholas": ("Nick",),
    "Samantha": ("Sam",),
    "Victoria": ("Vicky", "Tori"),
    "Andrew": ("Andy", "Drew"),
    "Stephanie": ("Steph",),
    "Benjamin": ("Ben",),
    "Timothy": ("Tim",),
    "Deborah": ("Debbie",),
    "Zachary": ("Zach",),
    "Gabriel": ("Gabe",),
}
# fmt: off
FIRST_NAMES = (
    *NICKNAMES,
    "Maria", "Jose", "Aaliyah", "Wei", "Priya", "Emma", "Noah", "Olivia", "Liam", "Ava", "Mia",
    "Lucas", "Sofia", "Mateo", "Chloe", "Ethan", "Grace", "Isaac", "Layla", "Hannah", "Jasmine",
    "Kevin", "Brandon", "Tyler", "Megan", "Lauren", "Ashley", "Jessica", "Tyrone", "Keisha",
    "Diego", "Camila", "Hiroshi", "Anh", "Fatima", "Omar", "Ingrid", "Sven",
)
# Surnames in rough order of frequency; drawn with Zipf weights, so Smith is common.
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Kim", "Patel", "Chen", "Schmidt", "O'Brien",
    "Kowalski", "Sullivan", "Murphy", "Cohen", "Novak", "Okafor", "Lindqvist",
)
# fmt: on
SURNAME_WEIGHTS = tuple(1.0 / (rank + 1) for rank in range(len(LAST_NAMES)))
FREEMAIL = ("gmail.example", "yahoo.example", "outlook.example", "icloud.example", "aol.example")
ISP_MAIL = ("comcast.example", "att.example", "spectrum.example")
ANDROID_MODELS = ("Pixel 7", "Pixel 8", "SM-S918B", "SM-A546U", "moto g 5G")
IOS_VERSIONS = ("17_4", "17_5", "17_6", "18_0", "18_1")
IOS_WEIGHTS = (10, 20, 25, 30, 15)
KEYBOARD_NEIGHBOURS = {
    "a": "sq",
    "e": "wr",
    "i": "uo",
    "o": "ip",
    "n": "bm",
    "r": "et",
    "s": "ad",
    "t": "ry",
    "l": "k",
    "m": "n",
    "h": "gj",
    "c": "xv",
}


@dataclass
class WebWorld:
    """Observations (resolve-file JSON objects, time order), who made each one (`actors`,
    a person or "" for none), the owner of each raw identifier (field, value) and why the
    unowned ones belong to nobody, and the households (person ids)."""

    seed: int
    observations: list[dict[str, str]]
    actors: list[str]
    owners: dict[tuple[str, str], str]
    shared: dict[tuple[str, str], str]
    households: list[tuple[str, ...]]

    def lines(self) -> list[str]:
        """The observations as JSON lines."""
        return [json.dumps(obs, separators=(",", ":")) for obs in self.observations]


@dataclass
class _Network:
    """A shared network: its egress addresses and the city GeoIP places them in."""

    ips: tuple[str, ...]
    city: str


@dataclass
class _Browser:
    """A browser or app instance on a device; its cookie (or install id) rotates."""

    owner: str | None
    kind: str  # "phone", "laptop", "tablet", "work", "family"
    ua_template: str
    version_offset: int
    lifetime_days: int | None  # None: an app install id, kept until reinstalled
    app: bool = False
    current: str = ""
    expires: datetime = START

    def identifier_at(self, rng: random.Random, ts: datetime) -> str:
        """The cookie or install id at `ts`: a new one once the cookie expired (an app is
        reinstalled now and then)."""
        kept = self.current and (self.lifetime_days is None or ts < self.expires)
        if kept and not (self.app and rng.random() < 0.002):
            return self.current
        prefix = "app-" if self.app else ""
        self.current = f"{prefix}{rng.getrandbits(64):016x}{rng.getrandbits(32):08x}"
        if self.lifetime_days is not None:
            self.expires = ts + timedelta(days=self.lifetime_days)
        return self.current

    def user_agent(self, day: int) -> str:
        """The user agent on `day` (browsers update every four weeks)."""
        chrome = 122 + (day + self.version_offset) // 28
        return self.ua_template.format(chrome=chrome, firefox=chrome + 1)


@dataclass
class _Household:
    hid: int
    city: int
    zip_code: str
    ip_changes: list[tuple[datetime, str]]
    members: list[_Person] = field(default_factory=list)
    mailbox: str = ""
    mailbox_readers: set[str] = field(default_factory=set)
    family_browser: _Browser | None = None

    def ip_at(self, ts: datetime) -> str:
        """The home IP the ISP had assigned at `ts`."""
        index = bisect_right(self.ip_changes, ts, key=lambda change: change[0])
        return self.ip_changes[max(index - 1, 0)][1]


@dataclass
class _Person:
    pid: str
    household: _Household
    age: int
    first: str
    last: str
    born: datetime
    emails: list[str]
    phones: list[str]  # E.164
    account: str
    carrier: int
    employer: int | None
    university: int | None
    hotspots: list[int]
    weekly_sessions: float
    evening_peak: float
    browsers: dict[str, _Browser] = field(default_factory=dict)
    customer: bool = False

    @property
    def work_email(self) -> str:
        """The work or school email (the second one), or ""."""
        has_work = self.employer is not None or self.university is not None
        return self.emails[1] if len(self.emails) > 1 and has_work else ""


@dataclass(frozen=True)
class _Employer:
    network: _Network
    domain: str
    ua_template: str  # the managed browser every desktop there runs
    version_offset: int


@dataclass(frozen=True)
class _Session:
    ts: datetime
    person: _Person
    browser: _Browser
    ip: str
    city: str


_Event = tuple[datetime, dict[str, str], str]
"""(time, observation without obs_id and ts, who made it)"""


def _random_city(rng: random.Random) -> int:
    return rng.randrange(len(CITIES))


class _WorldBuilder:
    def __init__(self, n_persons: int, seed: int) -> None:
        self.rng = rng = random.Random(f"web-identity-world/{seed}")
        self.seed = seed
        self.n_persons = n_persons
        self.owners: dict[tuple[str, str], str] = {}
        self.shared: dict[tuple[str, str], str] = {}
        self.used: set[str] = set()
        pool = max(2, n_persons // 1000)
        self.carriers = [
            _Network(
                tuple(f"172.{56 + c}.{k // 250}.{k % 250 + 1}" for k in range(pool)),
                CITIES[_random_city(rng)][0],
            )
            for c in range(len(CARRIER_SHARES))
        ]
        self.employers = [self._employer(e) for e in range(max(3, n_persons // 30))]
        self.employer_weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(self.employers))]
        self.universities = [
            _Network(
                tuple(f"128.{10 + u}.{k}.{rng.randrange(1, 255)}" for k in range(4)),
                CITIES[_random_city(rng)][0],
            )
            for u in range(2)
        ]
        self.hotspots = [
            _Network((self._public_ip(100, 200),), CITIES[_random_city(rng)][0])
            for _ in range(max(5, n_persons // 80))
        ]

    def _public_ip(self, low: int, high: int) -> str:
        rng = self.rng
        first, second, third = rng.randrange(low, high), rng.randrange(256), rng.randrange(256)
        return f"{first}.{second}.{third}.{rng.randrange(1, 255)}"

    def _own(self, field_name: str, value: str, pid: str | None, why: str = "") -> str:
        """Records who a raw identifier value belongs to (nobody: `why`); returns the value."""
        if pid is None:
            self.shared[(field_name, value)] = why
        else:
            self.owners[(field_name, value)] = pid
        return value

    # --- places and people -------------------------------------------------------------------

    def _employer(self, index: int) -> _Employer:
        rng = self.rng
        egress = 2 if index < 6 else 1
        network = _Network(
            tuple(self._public_ip(150, 210) for _ in range(egress)), CITIES[_random_city(rng)][0]
        )
        edge = " Edg/{chrome}.0.0.0" if rng.random() < 0.3 else ""
        return _Employer(network, f"corp{index}.example", WINDOWS_CHROME + edge, rng.randrange(28))

    def _home_ips(self, city: int) -> list[tuple[datetime, str]]:
        rng = self.rng
        prefix = f"{67 + city}.{rng.randrange(256)}"
        changes: list[tuple[datetime, str]] = []
        ts = START - timedelta(days=rng.randrange(60))
        while ts < START + timedelta(days=DAYS):
            changes.append((ts, f"{prefix}.{rng.randrange(256)}.{rng.randrange(1, 255)}"))
            ts += timedelta(days=rng.randint(10, 60))
        return changes

    def _households(self) -> list[_Household]:
        rng = self.rng
        households: list[_Household] = []
        made = 0
        while made < self.n_persons:
            size = min(rng.choices(HOUSEHOLD_SIZES, HOUSEHOLD_WEIGHTS)[0], self.n_persons - made)
            city = _random_city(rng)
            zip_code = f"{CITIES[city][1]}{rng.randrange(1, 100):02d}"
            household = _Household(len(households), city, zip_code, self._home_ips(city))
            surname = self._surname()
            roommates = size > 1 and rng.random() < 0.15
            for position in range(size):
                if position == 0:
                    age = rng.randint(24, 82)
                elif roommates:
                    age = rng.randint(20, 35)
                elif position == 1:
                    age = max(19, household.members[0].age + rng.randint(-6, 6))
                else:
                    age = rng.randint(13, 24)
                keeps_own_name = roommates or (position == 1 and rng.random() < 0.2)
                last = self._surname() if keeps_own_name else surname
                household.members.append(self._person(made, household, age, last))
                made += 1
            households.append(household)
        return households

    def _surname(self) -> str:
        return self.rng.choices(LAST_NAMES, SURNAME_WEIGHTS)[0]

    def _person(self, index: int, household: _Household, age: int, last: str) -> _Person:
        rng = self.rng
        first = rng.choice(FIRST_NAMES)
        employer: int | None = None
        university: int | None = None
        if 22 <= age <= 67 and rng.random() < 0.5:
            employer = rng.choices(range(len(self.employers)), self.employer_weights)[0]
        elif 18 <= age <= 23 and rng.random() < 0.65:
            university = rng.randrange(len(self.universities))
        emails = [self._email(first, last, rng.choice(FREEMAIL))]
        n_emails = rng.choices(EMAIL_COUNTS, EMAIL_WEIGHTS)[0] if age >= 16 else 1
        if n_emails >= 2:
            if employer is not None:
                domain = self.employers[employer].domain
            elif university is not None:
                domain = f"univ{university}.edu.example"
            else:
                domain = rng.choice(ISP_MAIL)
            emails.append(self._email(first, last, domain))
        if n_emails == 3:
            emails.append(self._email(first, last, rng.choice(ISP_MAIL + FREEMAIL)))
        area_codes = CITIES[household.city][2]
        n_phones = rng.choices(PHONE_COUNTS, PHONE_WEIGHTS)[0]
        has_account = rng.random() < (0.6 if age >= 18 else 0.3)
        return _Person(
            pid=f"W{index:05d}",
            household=household,
            age=age,
            first=first,
            last=last,
            born=START - timedelta(days=age * 365 + rng.randrange(365)),
            emails=emails,
            phones=[self._phone(rng.choice(area_codes)) for _ in range(n_phones)],
            account=f"{rng.randrange(10**6, 10**7)}" if has_account else "",
            carrier=rng.choices(range(len(CARRIER_SHARES)), CARRIER_SHARES)[0],
            employer=employer,
            university=university,
            hotspots=rng.sample(range(len(self.hotspots)), rng.randint(1, 3)),
            weekly_sessions=min(7.0, rng.lognormvariate(0.3, 0.7)),
            evening_peak=rng.gauss(20.5, 1.5),
        )

    def _email(self, first: str, last: str, domain: str) -> str:
        """A new address in one of the usual patterns, with digits added while it is taken."""
        rng = self.rng
        f, s = first.lower(), last.lower().replace("'", "")
        local = (
            f"{f}.{s}",
            f"{f}{s}{rng.randrange(100)}",
            f"{f[0]}{s}",
            f"{s}.{f}{rng.randrange(60, 100)}",
        )[rng.randrange(4)]
        address = f"{local}@{domain}"
        while address in self.used:
            address = f"{local}{rng.randrange(1000)}@{domain}"
        self.used.add(address)
        return address

    def _phone(self, area: str) -> str:
        """A new number (E.164) in the area."""
        rng = self.rng
        number = ""
        while not number or number in self.used:
            number = f"+1{area}{rng.randrange(200, 1000)}{rng.randrange(10000):04d}"
        self.used.add(number)
        return number

    # --- devices -----------------------------------------------------------------------------

    def _browser(self, owner: str | None, kind: str) -> _Browser:
        """A browser of a kind of device; Safari keeps cookies at most 7 days."""
        rng = self.rng
        offset = rng.randrange(28)
        if kind == "phone":
            if rng.random() < 0.55:
                template = IOS_SAFARI.format(
                    device="iPhone; CPU iPhone OS", **_ios(rng), chrome="{chrome}"
                )
                return _Browser(owner, kind, template, offset, rng.randint(1, 7))
            return _Browser(owner, kind, ANDROID_CHROME, offset, rng.randint(1, 30))
        if kind == "tablet" or (kind == "family" and rng.random() < 0.4):
            template = IOS_SAFARI.format(device="iPad; CPU OS", **_ios(rng), chrome="{chrome}")
            return _Browser(owner, kind, template, offset, rng.randint(1, 7))
        if rng.random() < 0.35:
            if rng.random() < 0.6:
                return _Browser(owner, kind, MAC_SAFARI, offset, rng.randint(1, 7))
            return _Browser(owner, kind, MAC_CHROME, offset, rng.randint(1, 30))
        roll = rng.random()
        template = (
            WINDOWS_FIREFOX
            if roll < 0.15
            else WINDOWS_CHROME + (" Edg/{chrome}.0.0.0" if roll < 0.35 else "")
        )
        return _Browser(owner, kind, template, offset, rng.randint(1, 30))

    def _app(self, person: _Person, phone: _Browser) -> _Browser:
        rng = self.rng
        build = f"{APP_NAME}/4.{rng.randrange(8, 13)}.0"
        if "iPhone" in phone.ua_template:
            ios = phone.ua_template.split("iPhone OS ")[1].split(" ")[0].replace("_", ".")
            template = f"{build} (iPhone; iOS {ios}; Scale/3.00)"
        else:
            template = f"{build} (Linux; Android 14; {rng.choice(ANDROID_MODELS)})"
        return _Browser(person.pid, "app", template, 0, None, app=True)

    def _devices(self, households: list[_Household]) -> None:
        rng = self.rng
        for household in households:
            for person in household.members:
                browsers = person.browsers
                if rng.random() < 0.95:
                    phone = browsers["phone"] = self._browser(person.pid, "phone")
                    if rng.random() < (0.55 if person.account else 0.2):
                        browsers["app"] = self._app(person, phone)
                if rng.random() < 0.6:
                    browsers["laptop"] = self._browser(person.pid, "laptop")
                if rng.random() < 0.2:
                    browsers["tablet"] = self._browser(person.pid, "tablet")
                if person.employer is not None and rng.random() < 0.85:
                    employer = self.employers[person.employer]
                    browsers["work"] = _Browser(
                        person.pid,
                        "work",
                        employer.ua_template,
                        employer.version_offset,
                        rng.randint(1, 30),
                    )
                if not browsers:
                    browsers["laptop"] = self._browser(person.pid, "laptop")
            if len(household.members) > 1 and rng.random() < 0.45:
                household.family_browser = self._browser(None, "family")
            adults = [m for m in household.members if m.age >= 18]
            if len(adults) >= 2 and rng.random() < 0.3:
                surname = household.members[0].last.lower().replace("'", "")
                household.mailbox = self._email(
                    "the", f"{surname}s{household.hid}", rng.choice(FREEMAIL)
                )
                readers = rng.sample(adults, rng.randint(2, len(adults)))
                household.mailbox_readers = {m.pid for m in readers}

    # --- sessions and observations -----------------------------------------------------------

    def _sessions(self, households: list[_Household]) -> list[_Session]:
        rng = self.rng
        sessions: list[_Session] = []
        for household in households:
            for person in household.members:
                rate = person.weekly_sessions / 7
                for day in range(DAYS):
                    visits = int(rate) + (rng.random() < rate - int(rate))
                    sessions.extend(self._session(person, day) for _ in range(visits))
        sessions.sort(key=lambda s: (s.ts, s.person.pid))
        return sessions

    def _session(self, person: _Person, day: int) -> _Session:
        """Where and on what a person is online: at work, on campus, at home, out."""
        rng = self.rng
        household = person.household
        utc_offset = CITIES[household.city][3]
        weekday = day % 7 < 5
        browsers = person.browsers
        any_browser = next(iter(browsers.values()))

        def at(hour: float, browser: _Browser, ip: str, city: str) -> _Session:
            seconds = int((hour - utc_offset) * 3600) + rng.randrange(60)
            return _Session(START + timedelta(days=day, seconds=seconds), person, browser, ip, city)

        def on_carrier(hour: float, browser: _Browser) -> _Session:
            carrier = self.carriers[person.carrier]
            return at(hour, browser, rng.choice(carrier.ips), carrier.city)

        if person.employer is not None and weekday and rng.random() < 0.45:
            hour = rng.uniform(9, 17.5)
            office = self.employers[person.employer].network
            browser = browsers.get("work") or browsers.get("phone") or any_browser
            if browser.kind == "phone" and rng.random() < 0.5:
                return on_carrier(hour, browser)
            return at(hour, browser, rng.choice(office.ips), office.city)
        if person.university is not None and weekday and rng.random() < 0.5:
            campus = self.universities[person.university]
            browser = browsers.get("laptop" if rng.random() < 0.5 else "phone") or any_browser
            return at(rng.uniform(9, 18), browser, rng.choice(campus.ips), campus.city)
        if not weekday and rng.random() < 0.5:
            hour = rng.uniform(8, 22)
        else:
            hour = min(23.9, max(6.0, rng.gauss(person.evening_peak, 2.0)))
        own = [b for kind, b in browsers.items() if kind != "work"]
        mobile = [b for b in own if b.kind in ("phone", "app")]
        if household.family_browser is not None and rng.random() < 0.2:
            browser = household.family_browser
        elif mobile and rng.random() < 0.55:
            browser = rng.choice(mobile)
        else:
            browser = rng.choice(own) if own else any_browser
        roll = rng.random()
        if browser.kind in ("phone", "app") and roll < 0.35:
            return on_carrier(hour, browser)
        if browser.kind in ("phone", "app", "laptop") and roll > 0.9:
            spot = self.hotspots[rng.choice(person.hotspots)]
            return at(hour, browser, spot.ips[0], spot.city)
        home = at(hour, browser, "", CITIES[household.city][0])
        return _Session(home.ts, person, browser, household.ip_at(home.ts), home.city)

    def _observe(self, sessions: list[_Session]) -> list[_Event]:
        """A session's page or screen views, one of them perhaps identifying its person."""
        rng = self.rng
        events: list[_Event] = []
        for session in sessions:
            person, browser = session.person, session.browser
            anon = self._own(
                "anonymous_id",
                browser.identifier_at(rng, session.ts),
                browser.owner,
                "family device",
            )
            base = {
                "source": "app" if browser.app else "web",
                "event": "screen_view" if browser.app else "page_view",
                "anonymous_id": anon,
                "ip": session.ip,
                "ua": browser.user_agent((session.ts - START).days),
                "geo_city": session.city,
            }
            if browser.app and person.account:
                base["user_id"] = self._own("user_id", person.account, person.pid)
            count = 1
            while count < 6 and rng.random() < 0.45:
                count += 1
            identifying = rng.randrange(count)
            ts = session.ts
            for index in range(count):
                obs = dict(base)
                if index == identifying and not browser.app:
                    self._identify(obs, person, browser)
                events.append((ts, obs, person.pid))
                ts += timedelta(seconds=rng.randrange(20, 400))
        return events

    def _identify(self, obs: dict[str, str], person: _Person, browser: _Browser) -> None:
        """Perhaps a login, an email click or a checkout in this observation."""
        rng = self.rng
        login = {"work": 0.08, "family": 0.12}.get(browser.kind, 0.22) if person.account else 0.0
        roll = rng.random()
        if roll < login:
            obs["event"] = "login"
            obs["user_id"] = self._own("user_id", person.account, person.pid)
            if rng.random() < 0.2:
                obs["email"] = self._own("email", person.emails[0], person.pid)
        elif roll < login + 0.10:
            obs["event"] = "email_click"
            obs["email"] = self._email_for(person, browser)
        elif roll < login + 0.135:
            obs["event"] = "checkout"
            obs["email"] = self._email_for(person, browser)
            if person.account and rng.random() < 0.6:
                obs["user_id"] = self._own("user_id", person.account, person.pid)
            if person.phones and rng.random() < 0.7:
                obs["phone"] = self._formatted(person, rng.choice(person.phones), WEB_FORMATS)
            person.customer = True

    def _email_for(self, person: _Person, browser: _Browser) -> str:
        rng = self.rng
        household = person.household
        if person.pid in household.mailbox_readers and rng.random() < 0.5:
            return self._own("email", household.mailbox, None, "family mailbox")
        if browser.kind == "work" and person.work_email and rng.random() < 0.8:
            email = person.work_email
        elif len(person.emails) > 1 and rng.random() < 0.25:
            email = rng.choice(person.emails[1:])
        else:
            email = person.emails[0]
        return self._own("email", email, person.pid)

    def _formatted(self, person: _Person, e164: str, formats: tuple[str, ...]) -> str:
        """A phone number as a form takes it (one of `formats`), recorded as the person's."""
        area, exchange, line = e164[2:5], e164[5:8], e164[8:]
        raw = self.rng.choice(formats).format(area=area, exchange=exchange, line=line)
        return self._own("phone", raw, person.pid)

    # --- CRM -----------------------------------------------------------------------------------

    def _crm(self, households: list[_Household]) -> list[_Event]:
        """Records of customers (and some who bought offline), a few entered twice or thrice."""
        rng = self.rng
        events: list[_Event] = []
        for household in households:
            for person in household.members:
                if not (person.customer or rng.random() < 0.15):
                    continue
                copies = 1 + (rng.random() < 0.22) + (rng.random() < 0.06)
                for copy in range(copies):
                    record = self._crm_record(person, duplicate=copy > 0)
                    record["crm_id"] = self._own(
                        "crm_id", f"C{rng.getrandbits(40):010x}", person.pid
                    )
                    ts = START + timedelta(seconds=rng.randrange(DAYS * 86400))
                    events.append((ts, record, person.pid))
        return events

    def _crm_record(self, person: _Person, duplicate: bool) -> dict[str, str]:
        rng = self.rng
        household = person.household
        first, last = person.first, person.last
        zip_code, city = household.zip_code, CITIES[household.city][0]
        dob = person.born.strftime("%Y-%m-%d")
        email = person.emails[0]
        phone = person.phones[0] if person.phones and rng.random() < 0.85 else ""
        if duplicate:
            roll = rng.random()
            if roll < 0.3 and first in NICKNAMES:
                first = rng.choice(NICKNAMES[first])
            elif roll < 0.55:
                first = _typo(rng, first)
            if rng.random() < 0.2:
                last = _typo(rng, last)
            if rng.random() < 0.3:
                moved = household.city if rng.random() < 0.6 else _random_city(rng)
                zip_code = f"{CITIES[moved][1]}{rng.randrange(1, 100):02d}"
                city = CITIES[moved][0]
            roll = rng.random()
            if roll < 0.35 and len(person.emails) > 1:
                email = rng.choice(person.emails[1:])
            elif roll >= 0.65:
                email = ""
            roll = rng.random()
            if roll < 0.15 and len(person.phones) > 1:
                phone = person.phones[1]
            elif roll >= 0.6:
                phone = ""
            roll = rng.random()
            if roll < 0.4:
                dob = ""
            elif roll < 0.45 and person.born.day <= 12:
                dob = person.born.strftime("%Y-%d-%m")
        record = {
            "source": "crm",
            "event": "crm_record",
            "first_name": first.upper() if rng.random() < 0.1 else first,
            "last_name": last,
            "postcode": zip_code,
            "geo_city": city,
        }
        if dob:
            record["date_of_birth"] = dob
        if person.pid in household.mailbox_readers and rng.random() < 0.2:
            record["email"] = self._own("email", household.mailbox, None, "family mailbox")
        elif email:
            typed = email.capitalize() if rng.random() < 0.15 else email
            record["email"] = self._own("email", typed, person.pid)
        if phone:
            record["phone"] = self._formatted(person, phone, CRM_FORMATS)
        if person.account and not duplicate and rng.random() < 0.35:
            record["user_id"] = self._own("user_id", person.account, person.pid)
        return record

    # --- the world -----------------------------------------------------------------------------

    def build(self) -> WebWorld:
        households = self._households()
        self._devices(households)
        events = self._observe(self._sessions(households)) + self._crm(households)
        events.sort(key=lambda e: (e[0], e[2], e[1]["event"]))
        observations = [
            {"obs_id": f"w{number}", "ts": ts.isoformat(), **obs}
            for number, (ts, obs, _) in enumerate(events, start=1)
        ]
        return WebWorld(
            self.seed,
            observations,
            [actor for _, _, actor in events],
            self.owners,
            self.shared,
            [tuple(m.pid for m in h.members) for h in households],
        )


WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{chrome}.0.0.0 Safari/537.36"
)
WINDOWS_FIREFOX = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{firefox}.0) Gecko/20100101 Firefox/{firefox}.0"
)
MAC_CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{chrome}.0.0.0 Safari/537.36"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{chrome}.0.0.0 Mobile Safari/537.36"
)
IOS_SAFARI = (
    "Mozilla/5.0 ({device} {ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{ios_dotted} Mobile/15E148 Safari/604.1"
)
WEB_FORMATS = (
    "({area}) {exchange}-{line}",
    "{area}-{exchange}-{line}",
    "+1 {area} {exchange} {line}",
    "{area}.{exchange}.{line}",
)
CRM_FORMATS = ("({area}) {exchange}-{line}", "1-{area}-{exchange}-{line}", "{area}{exchange}{line}")


def _ios(rng: random.Random) -> dict[str, str]:
    version = rng.choices(IOS_VERSIONS, IOS_WEIGHTS)[0]
    return {"ios": version, "ios_dotted": version.replace("_", ".")}


def _typo(rng: random.Random, word: str) -> str:
    """A typing slip: a neighbouring key, two letters swapped, one left out or doubled."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        neighbours = KEYBOARD_NEIGHBOURS.get(word[i].lower(), "e")
        return word[:i] + rng.choice(neighbours) + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 2:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def generate(n_persons: int = 2000, seed: int = 1) -> WebWorld:
    """The world for `n_persons` persons; the same for the same seed."""
    if n_persons < 1:
        raise ValueError(f"n_persons must be at least 1, not {n_persons}")
    return _WorldBuilder(n_persons, seed).build()


__all__ = ["DEFAULT_REGION", "WebWorld", "generate"]
