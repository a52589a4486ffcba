"""Validation and normalisation of incoming events into recorded facts, with precise reasons."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import astuple, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from common.consent import Consent
from common.fields import (
    MAX_IDENTIFIER_LENGTH,
    NAME_PATTERN,
    NAME_RULE,
    PROPERTY_ID_PATTERN,
    PROPERTY_ID_RULE,
)
from common.identifiers import (
    InvalidEmailError,
    hash_email,
    is_sha256_hex,
    placeholder_reason,
)
from common.money import (
    ExchangeRates,
    Money,
    MoneyError,
    UnknownRateError,
    is_known_currency,
)
from common.values import IdentifierType
from services.ingest.channel_groups import DEFAULT_CHANNEL_GROUP, ChannelGroup
from services.ingest.consent import read_consent
from services.ingest.domainmodel import (
    Conversion,
    ConversionOutcome,
    EventKind,
    Identification,
    IncomingEvent,
    PageView,
    RecordedFact,
    Touchpoint,
    conversion_record_id,
    record_id,
)
from services.ingest.enrichment import (
    CampaignTags,
    ClickIds,
    TrafficSource,
    UserAgentParser,
    classify_traffic,
    with_click_ids_masked,
)
from services.ingest.memo import BoundedMemo
from services.ingest.network import (
    InvalidSignalError,
    IPAddress,
    NetworkPseudonyms,
    distinguishes_clients,
    normalise_city,
    normalise_country,
    parse_ip_address,
)
from services.ingest.url_privacy import UrlScrubber
from services.ingest.vault import Sealed

MAX_EVENT_ID_LENGTH = 128
NUL = "\x00"
MAX_VALUE_UNITS = 10**12
MAX_MICROS = 2**63 - 1
TRAFFIC_CACHE_SIZE = 4096
VALUE_CACHE_SIZE = 65_536
MAX_REMEMBERED_EMAIL_LENGTH = 512
MAX_REMEMBERED_CONTEXT_LENGTH = 512
MAX_REMEMBERED_USER_AGENT_LENGTH = 1024
_NO_CLICK_IDS = ClickIds()
_ANONYMOUS_PREFIX = f"{IdentifierType.ANONYMOUS_ID.value}:"
_USER_PREFIX = f"{IdentifierType.USER_ID.value}:"
_EMAIL_PREFIX = f"{IdentifierType.EMAIL_SHA256.value}:"


@dataclass(frozen=True, slots=True)
class Violation:
    """One invalid field of an event and what is wrong with it."""

    field: str
    description: str


@dataclass(frozen=True, slots=True)
class Limits:
    """Ingest's documented limits."""

    max_events_per_batch: int = 1000
    max_batch_bytes: int = 4 * 1024 * 1024
    max_event_bytes: int = 32 * 1024
    max_future: timedelta = timedelta(days=1)
    max_age: timedelta = timedelta(days=90)
    late_after: timedelta = timedelta(hours=72)
    max_backfill_age: timedelta = timedelta(days=730)


@dataclass(frozen=True, slots=True)
class ScrubbedTraffic:
    """A touchpoint's traffic source and landing URL, read with personal data taken out."""

    source: TrafficSource
    landing_url: str


@dataclass(slots=True)
class FactState:
    """A fact before it is stored: its aggregate class, its id and the fields its `Recorded`
    event holds (in the order of the event's parameters). Treated as immutable, not frozen:
    one is built per event (see `IncomingEvent`)."""

    kind: type[RecordedFact]
    record_id: UUID
    fields: dict[str, object]


@dataclass(slots=True)
class ValidEvent:
    """An event that passed validation: what its fact holds, but for the sealed identifiers.
    Treated as immutable, not frozen for speed (see `IncomingEvent`).

    `identifier_keys` ("kind:value", placeholders such as "undefined" left out) must be
    sealed before the fact is built, unless analytics consent is denied. `consent` is what
    the event's own signals say (before earlier withdrawals of its identifiers apply).
    `forwarded_address` is `Normaliser.network_address(incoming)`, read once.
    """

    incoming: IncomingEvent
    record_id: UUID
    occurred_at: datetime
    identifier_keys: tuple[str, ...]
    geo_country: str
    geo_city: str
    value: Money | None
    reporting_micros: int
    traffic: ScrubbedTraffic | None = None
    late: bool = False
    consent: Consent = field(default_factory=Consent)
    refund: Money | None = None
    reporting_refund_micros: int = 0
    forwarded_address: IPAddress | None = None


class Normaliser:
    """Validates incoming events and turns valid ones into recorded facts, with personal
    data taken out of their URLs."""

    def __init__(
        self,
        *,
        limits: Limits,
        rates: ExchangeRates,
        reporting_currency: str,
        user_agents: UserAgentParser,
        urls: UrlScrubber,
    ) -> None:
        self._limits = limits
        self._rates = rates
        self._reporting_currency = reporting_currency
        self._user_agents = user_agents
        self._urls = urls
        self._channel_groups: Callable[[str], ChannelGroup] = lambda _: DEFAULT_CHANNEL_GROUP
        # (property, landing URL, referrer, tags, click ids as sent, whether the URL is the
        # touchpoint's own) -> traffic source, NUL field and the channel group that classified
        # it (an entry of a group the property no longer uses is classified again): campaigns
        # send the same landing pages and referrers again and again.
        self._hash_email = BoundedMemo(hash_email, VALUE_CACHE_SIZE)
        self._read_consent = BoundedMemo(read_consent, VALUE_CACHE_SIZE)
        self._placeholder_reason = BoundedMemo(placeholder_reason, VALUE_CACHE_SIZE)
        # A visitor's events repeat its identity fields and its client's context: both are
        # read once per distinct value (pure functions of the fields, see `_read_identity`
        # and `_read_context`).
        self._identity = BoundedMemo(self._read_identity, VALUE_CACHE_SIZE)
        self._context = BoundedMemo(_read_context, VALUE_CACHE_SIZE)
        self._devices: dict[str, dict[str, object]] = {}
        self._traffic_cache: dict[
            tuple[str, str, str, CampaignTags, ClickIds, bool],
            tuple[ScrubbedTraffic, str, ChannelGroup],
        ] = {}
        # The same key with the landing URL's click ids masked -> traffic source, NUL field
        # and channel group: what is left to classify when the landing URL is new.
        self._source_cache: dict[
            tuple[str, str, str, CampaignTags, ClickIds, bool],
            tuple[TrafficSource, str, ChannelGroup],
        ] = {}

    def forget_remembered_values(self) -> None:
        """Forgets every value remembered from events so far: emails, user ids and client
        contexts as sent, landing URLs and referrers. Called when identifiers are forgotten,
        so that no raw value of an erased person stays in this process until evicted (the
        memos refill from the next events)."""
        for memo in (self._hash_email, self._identity, self._context):
            memo.clear()
        self._traffic_cache.clear()
        self._source_cache.clear()
        self._urls.forget_remembered()

    def remembered_values(self) -> int:
        """How many values taken from events are remembered now (what
        `forget_remembered_values` forgets)."""
        return (
            len(self._hash_email)
            + len(self._identity)
            + len(self._context)
            + len(self._traffic_cache)
            + len(self._source_cache)
            + self._urls.remembered()
        )

    def classify_with(self, channel_groups: Callable[[str], ChannelGroup]) -> None:
        """Classifies each touchpoint with the channel group `channel_groups` answers for its
        property (the default group until this is called)."""
        self._channel_groups = channel_groups

    def network_address(self, incoming: IncomingEvent) -> IPAddress | None:
        """The client IP address to pseudonymise: None when none was sent, when it is not
        an address (`normalise` reports that) or when it does not tell clients apart
        (private, loopback, link-local, ...)."""
        return self._client_context(incoming).forwarded_address

    def validate(
        self,
        incoming: IncomingEvent,
        received_at: datetime,
        clock_skew: timedelta,
        *,
        backfill: bool = False,
    ) -> ValidEvent | list[Violation]:
        """Checks `incoming`; returns what its fact needs, or every violation found.

        An event older than `limits.late_after` is accepted and flagged late, up to
        `limits.max_age`, or up to `limits.max_backfill_age` for a `backfill` import.
        """
        violations: list[Violation] = []
        if incoming.size_bytes > self._limits.max_event_bytes:
            limit = self._limits.max_event_bytes
            return [
                Violation(
                    "event",
                    f"is {incoming.size_bytes} bytes, over the limit of {limit / 1024:g} KiB "
                    f"({limit} bytes)",
                )
            ]
        self._check_envelope(incoming, violations)
        context = self._client_context(incoming)
        if context.violations:
            violations.extend(context.violations)
        max_age = self._limits.max_backfill_age if backfill else self._limits.max_age
        occurred_at = self._occurred_at(incoming, received_at, clock_skew, max_age, violations)
        consent = self._read_consent(incoming.consent)
        if isinstance(consent, list):
            violations.extend(Violation(p.field, p.description) for p in consent)
            consent = Consent()
        # Without analytics consent an event may come without any identifier (it is stored
        # without one anyway), and an outcome needs none (it refers to its conversion by order
        # id); every other event needs one.
        outcome = incoming.kind is EventKind.OUTCOME
        identifiers, identifier_keys = self._identifiers(
            incoming, violations, required=not (consent.analytics_denied or outcome)
        )
        if outcome:
            # Not kept: the conversion's own identifiers place it.
            identifiers = identifier_keys = ()
        if incoming.kind is None:
            violations.append(
                Violation(
                    "kind",
                    "one of touchpoint, page_view, conversion, identify, outcome is required",
                )
            )
        elif (
            incoming.kind is EventKind.IDENTIFY
            and len(identifiers) < 2
            and not consent.analytics_denied
        ):
            violations.append(
                Violation("identity", "an identify event needs at least two identifiers")
            )
        self._check_text(incoming, violations)
        traffic = self._traffic(incoming, violations)
        reporting_micros, value = 0, None
        refund_micros, refund = 0, None
        if incoming.kind is EventKind.CONVERSION:
            reporting_micros, value = self._conversion_value(
                incoming, occurred_at or received_at, violations
            )
        elif outcome:
            reporting_micros, value, refund_micros, refund = self._outcome(
                incoming, occurred_at or received_at, violations
            )
        if violations or occurred_at is None or incoming.kind is None:
            return violations
        return ValidEvent(
            incoming=incoming,
            record_id=_record_id(incoming),
            occurred_at=occurred_at,
            identifier_keys=identifier_keys,
            geo_country=context.country,
            geo_city=context.city,
            value=value,
            reporting_micros=reporting_micros,
            traffic=traffic,
            late=occurred_at < received_at - self._limits.late_after,
            consent=consent,
            refund=refund,
            reporting_refund_micros=refund_micros,
            forwarded_address=context.forwarded_address,
        )

    def fact(
        self,
        valid: ValidEvent,
        received_at: datetime,
        sealed: Mapping[str, Sealed],
        trace_parent: str = "",
        network: NetworkPseudonyms | None = None,
        consent: Consent | None = None,
    ) -> RecordedFact:
        """The fact of a valid event as an aggregate (see `fact_state`)."""
        state = self.fact_state(valid, received_at, sealed, trace_parent, network, consent)
        return state.kind(id=state.record_id, **state.fields)  # type: ignore[call-arg]

    def fact_state(
        self,
        valid: ValidEvent,
        received_at: datetime,
        sealed: Mapping[str, Sealed],
        trace_parent: str = "",
        network: NetworkPseudonyms | None = None,
        consent: Consent | None = None,
    ) -> FactState:
        """What the fact of a valid event records: pseudonyms instead of identifiers, with
        the raw identifiers sealed (`sealed` maps each of `valid.identifier_keys` to its
        pseudonym and sealed value), placeholder values dropped. Of the client's IP address
        it keeps only `network`, the pseudonyms of `network_address(valid.incoming)`.

        `consent` is the consent the event is recorded under (its own, with earlier
        withdrawals of its identifiers applied; `valid.consent` when not given). With
        analytics denied the fact keeps no identifier, no network signal and no order id:
        `sealed` and `network` are ignored.
        """
        incoming = valid.incoming
        consent = consent or valid.consent
        denied = consent.analytics_denied
        if denied:
            network = None
        seals = [] if denied else [sealed[key] for key in valid.identifier_keys]
        # In the order of the `Recorded` event's parameters (the stored form keeps it).
        common: dict[str, object] = {
            "property_id": incoming.property_id,
            "event_id": incoming.event_id,
            "occurred_at": valid.occurred_at,
            "received_at": received_at,
            "identifiers": [s.pseudonym for s in seals],
            "device": self._device(incoming.user_agent),
            "trace_parent": trace_parent,
            "sealed_identifiers": {s.pseudonym: s.token for s in seals},
            "network": {
                "ip_pseudonym": network.ip if network else "",
                "network_pseudonym": network.network if network else "",
                "geo_country": "" if denied else valid.geo_country,
                "geo_city": "" if denied else valid.geo_city,
            },
            "late": valid.late,
            "consent": consent.to_dict(),
        }
        return self._fact_state(valid, common, consent)

    def _device(self, user_agent: str) -> dict[str, object]:
        """A fact's device fields for a user agent: a copy of the fields made once per
        distinct user agent (a visitor sends the same one with every event)."""
        found = self._devices.get(user_agent)
        if found is None:
            device = self._user_agents.parse(user_agent)
            found = {
                "browser": device.browser,
                "os": device.os,
                "device": device.device,
                "is_bot": device.is_bot,
                "browser_version": device.browser_version,
                "os_version": device.os_version,
                "device_type": device.device_type,
            }
            if len(user_agent) <= MAX_REMEMBERED_USER_AGENT_LENGTH:
                if len(self._devices) >= TRAFFIC_CACHE_SIZE:
                    self._devices.clear()
                self._devices[user_agent] = found
        return found.copy()

    def _fact_state(
        self, valid: ValidEvent, common: dict[str, object], consent: Consent
    ) -> FactState:
        incoming, scrubbed = valid.incoming, valid.traffic
        touch = incoming.touchpoint
        if incoming.kind is EventKind.TOUCHPOINT and touch is not None and scrubbed is not None:
            assert touch.type is not None, "validated in validate"
            traffic = scrubbed.source
            common.update(
                touch_type=touch.type.value,
                channel=str(traffic.channel),
                source=traffic.source,
                medium=traffic.medium,
                campaign=traffic.campaign,
                term=traffic.term,
                content=traffic.content,
                landing_url=scrubbed.landing_url,
                referrer_host=traffic.referrer_host,
                click_id_type=traffic.click_id_type,
            )
            return FactState(Touchpoint, valid.record_id, common)
        if incoming.kind is EventKind.PAGE_VIEW and incoming.page_view is not None:
            common.update(
                url=self._urls.url(incoming.page_view.url or incoming.page_url),
                title=incoming.page_view.title,
            )
            return FactState(PageView, valid.record_id, common)
        if incoming.kind is EventKind.CONVERSION and incoming.conversion is not None:
            conversion, value = incoming.conversion, valid.value
            common.update(
                name=conversion.name,
                currency_code=value.currency_code if value else "",
                value_micros=value.to_micros() if value else 0,
                reporting_currency_code=self._reporting_currency,
                reporting_value_micros=valid.reporting_micros,
                order_id="" if consent.analytics_denied else conversion.order_id,
            )
            # Always recorded: the library does not apply keyword-only defaults on creation.
            if consent.analytics_denied:
                own = self._own_traffic(incoming)
                common.update(
                    channel=str(own.channel),
                    source=own.source.replace(NUL, ""),
                    medium=own.medium.replace(NUL, ""),
                    campaign=own.campaign.replace(NUL, ""),
                )
            else:
                common.update(channel="", source="", medium="", campaign="")
            return FactState(Conversion, valid.record_id, common)
        if incoming.kind is EventKind.OUTCOME and incoming.outcome is not None:
            fields = self._outcome_fields(valid, common)
            return FactState(ConversionOutcome, valid.record_id, fields)
        return FactState(Identification, valid.record_id, common)

    def _outcome_fields(self, valid: ValidEvent, common: dict[str, object]) -> dict[str, object]:
        """An outcome's own fields, after the common ones, in the `Recorded` event's order."""
        outcome = valid.incoming.outcome
        assert outcome is not None, "an outcome event"
        value, refund = valid.value, valid.refund
        conversion_id = conversion_record_id(
            valid.incoming.property_id, "", outcome.conversion_name, outcome.order_id
        )
        common.update(
            conversion_name=outcome.conversion_name,
            order_id=outcome.order_id,
            conversion_id=str(conversion_id),
            stage=outcome.stage,
            currency_code=value.currency_code if value else "",
            value_micros=value.to_micros() if value else 0,
            refund_currency_code=refund.currency_code if refund else "",
            refund_micros=refund.to_micros() if refund else 0,
            reporting_currency_code=self._reporting_currency,
            reporting_value_micros=valid.reporting_micros,
            reporting_refund_micros=valid.reporting_refund_micros,
            retracted=outcome.retracted,
        )
        return common

    def _own_traffic(self, incoming: IncomingEvent) -> TrafficSource:
        """The traffic source of an event's own page URL and referrer (campaign tags and
        click ids in the URL's query string, the referrer's host), by the touchpoint rules."""
        return classify_traffic(
            landing_url=self._urls.url(incoming.page_url),
            referrer=self._urls.url(incoming.referrer),
            tags=CampaignTags(),
            click_ids=ClickIds(),
            channel_group=self._channel_groups(incoming.property_id),
        )

    def _traffic(
        self, incoming: IncomingEvent, violations: list[Violation]
    ) -> ScrubbedTraffic | None:
        """A touchpoint's traffic source, read from its URLs without personal data, its type
        and the tags read from its URLs checked; None for other events."""
        touch = incoming.touchpoint
        if touch is None:
            return None
        if touch.type is None:
            violations.append(
                Violation(
                    "touchpoint.type",
                    "is not a known touchpoint type: use click, impression or visit "
                    "(unset means visit)",
                )
            )
        landing = touch.landing_url or incoming.page_url
        referrer, from_landing = touch.referrer or incoming.referrer, bool(touch.landing_url)
        group = self._channel_groups(incoming.property_id)
        key = (incoming.property_id, landing, referrer, touch.tags, touch.click_ids, from_landing)
        found = self._traffic_cache.get(key)
        if found is None or found[2] is not group:
            landing_url = self._urls.url(landing)
            source, nul_field = self._source(
                (incoming.property_id, with_click_ids_masked(landing), *key[2:]),
                landing_url,
                group,
            )
            found = (ScrubbedTraffic(source, landing_url), nul_field, group)
            if len(self._traffic_cache) >= TRAFFIC_CACHE_SIZE:
                self._traffic_cache.clear()
            self._traffic_cache[key] = found
        scrubbed, nul_field, _ = found
        if nul_field:
            violations.append(Violation(nul_field, "carries campaign tags with NUL characters"))
        return scrubbed

    def _source(
        self,
        key: tuple[str, str, str, CampaignTags, ClickIds, bool],
        landing_url: str,
        group: ChannelGroup,
    ) -> tuple[TrafficSource, str]:
        """The traffic source and NUL field (see `_classified`) of a touchpoint, remembered
        by (property, landing URL with its click ids masked, referrer, tags, click ids, whether
        the URL is the touchpoint's own): an ad click's landing URL is new on every click,
        its classification is not (`with_click_ids_masked`)."""
        found = self._source_cache.get(key)
        if found is None or found[2] is not group:
            _, _, referrer, tags, click_ids, landing_field = key
            found = (
                *self._classified(landing_url, referrer, tags, click_ids, landing_field, group),
                group,
            )
            if len(self._source_cache) >= TRAFFIC_CACHE_SIZE:
                self._source_cache.clear()
            self._source_cache[key] = found
        return found[0], found[1]

    def _classified(
        self,
        landing_url: str,
        referrer: str,
        tags: CampaignTags,
        click_ids: ClickIds,
        landing_field: bool,
        channel_group: ChannelGroup,
    ) -> tuple[TrafficSource, str]:
        """The traffic source of a landing URL (scrubbed), referrer, tags and click ids as
        sent, and the field to blame ("" when none) when tags read from the URL carry NUL."""
        traffic = classify_traffic(
            landing_url=landing_url,
            referrer=self._urls.url(referrer),
            tags=self._scrubbed_tags(tags),
            click_ids=click_ids,
            channel_group=channel_group,
        )
        derived = (traffic.source, traffic.medium, traffic.campaign, traffic.term, traffic.content)
        nul_field = ""
        if any(NUL in tag for tag in derived) and not any(NUL in tag for tag in astuple(tags)):
            nul_field = "touchpoint.landing_url" if landing_field else "context.page_url"
        return traffic, nul_field

    def _check_text(self, incoming: IncomingEvent, violations: list[Violation]) -> None:
        """Text is stored in SQL columns downstream, where PostgreSQL refuses NUL."""
        if not _may_hold_nul(incoming):
            return
        violations.extend(
            Violation(field, "must not contain NUL characters")
            for field, value in _text_fields(incoming)
            if NUL in value
        )

    def _scrubbed_tags(self, tags: CampaignTags) -> CampaignTags:
        """The campaign tags, each without an email address."""
        return replace(
            tags,
            source=self._urls.value(tags.source),
            medium=self._urls.value(tags.medium),
            campaign=self._urls.value(tags.campaign),
            term=self._urls.value(tags.term),
            content=self._urls.value(tags.content),
        )

    def _check_envelope(self, incoming: IncomingEvent, violations: list[Violation]) -> None:
        if not incoming.property_id:
            violations.append(Violation("property_id", "is required"))
        elif not PROPERTY_ID_PATTERN.fullmatch(incoming.property_id):
            violations.append(Violation("property_id", PROPERTY_ID_RULE))
        if not incoming.event_id:
            violations.append(Violation("event_id", "is required"))
        elif len(incoming.event_id) > MAX_EVENT_ID_LENGTH:
            violations.append(
                Violation("event_id", f"is longer than {MAX_EVENT_ID_LENGTH} characters")
            )

    def _client_context(self, incoming: IncomingEvent) -> _Context:
        """The event's `_Context`, remembered by its values unless they are long."""
        sent = (incoming.ip_address, incoming.geo_country, incoming.geo_city)
        if sum(map(len, sent)) > MAX_REMEMBERED_CONTEXT_LENGTH:
            return _read_context(sent)
        return self._context(sent)

    def _occurred_at(
        self,
        incoming: IncomingEvent,
        received_at: datetime,
        clock_skew: timedelta,
        max_age: timedelta,
        violations: list[Violation],
    ) -> datetime | None:
        if incoming.timestamp_error:
            violations.append(Violation("timestamp", incoming.timestamp_error))
            return None
        if incoming.timestamp is None:
            violations.append(Violation("timestamp", "is required"))
            return None
        try:
            occurred_at = incoming.timestamp + clock_skew
        except OverflowError:
            violations.append(Violation("timestamp", "is out of range after clock-skew correction"))
            return None
        if occurred_at > received_at + self._limits.max_future:
            violations.append(
                Violation(
                    "timestamp",
                    f"is {_hours(occurred_at - received_at)} in the future (after clock-skew "
                    f"correction); at most {_hours(self._limits.max_future)} is allowed",
                )
            )
        elif occurred_at < received_at - max_age:
            violations.append(
                Violation(
                    "timestamp",
                    f"is {(received_at - occurred_at).days} days old; events older than "
                    f"{max_age.days} days are not accepted",
                )
            )
        return occurred_at

    def _identifiers(
        self, incoming: IncomingEvent, violations: list[Violation], *, required: bool = True
    ) -> tuple[tuple[tuple[str, str | None], ...], tuple[str, ...]]:
        """The event's identifiers as keys ("anon:…"), each with why it is a placeholder
        (None for a real one), and the keys of the real ones; their violations added (see
        `_read_identity`)."""
        sent = (
            incoming.anonymous_id,
            incoming.user_id,
            incoming.email,
            incoming.email_sha256,
            required,
        )
        if len(incoming.email) + len(incoming.email_sha256) > MAX_REMEMBERED_EMAIL_LENGTH:
            found, identifiers, keys = self._read_identity(sent)  # not worth keeping in memory
        else:
            found, identifiers, keys = self._identity(sent)
        if found:
            violations.extend(found)
        return identifiers, keys

    def _read_identity(
        self, sent_fields: tuple[str, str, str, str, bool]
    ) -> tuple[tuple[Violation, ...], tuple[tuple[str, str | None], ...], tuple[str, ...]]:
        """The violations and identifiers of an event's (anonymous id, user id, email,
        email hash, whether an identifier is required): the keys ("anon:…"), each with why
        it is a placeholder (None for a real one): its ids, then its email hashes in order,
        without repeats; then the keys of the real ones. When one is `required` and none is
        a real identifier, the violations say so (see `_missing_identifier_violations`)."""
        anonymous_id, user_id, email, email_sha256, required = sent_fields
        violations: list[Violation] = []
        sent: list[tuple[str, str, str]] = []  # (field, key prefix, value)
        for name, prefix, value in (
            ("identity.anonymous_id", _ANONYMOUS_PREFIX, anonymous_id),
            ("identity.user_id", _USER_PREFIX, user_id),
        ):
            if len(value) > MAX_IDENTIFIER_LENGTH:
                violations.append(
                    Violation(name, f"is longer than {MAX_IDENTIFIER_LENGTH} characters")
                )
            elif stripped := value.strip():
                sent.append((name, prefix, stripped))
        hashes: dict[str, str] = {}
        if email:
            try:
                hashes.setdefault(self._hash_email(email), "identity.email")
            except InvalidEmailError as error:
                violations.append(Violation("identity.email", str(error)))
        if email_sha256:
            digest = email_sha256.strip().lower()
            if is_sha256_hex(digest):
                hashes.setdefault(digest, "identity.email_sha256")
            else:
                violations.append(
                    Violation("identity.email_sha256", "must be 64 hexadecimal digits (SHA-256)")
                )
        sent.extend((hashes[h], _EMAIL_PREFIX, h) for h in sorted(hashes))
        placeholders = [self._placeholder_reason(value) for _, _, value in sent]
        if required and not violations:
            violations.extend(_missing_identifier_violations(sent, placeholders))
        identifiers = tuple(
            (prefix + value, placeholder)
            for (_, prefix, value), placeholder in zip(sent, placeholders, strict=True)
        )
        keys = tuple(key for key, placeholder in identifiers if placeholder is None)
        return tuple(violations), identifiers, keys

    def _conversion_value(
        self, incoming: IncomingEvent, occurred_at: datetime, violations: list[Violation]
    ) -> tuple[int, Money | None]:
        """The value in the reporting currency at the rates of the event's UTC date (in
        micros), and the value as sent; (0, None) with violations when either is invalid."""
        conversion = incoming.conversion
        if conversion is None:
            return 0, None
        if not conversion.name:
            violations.append(Violation("conversion.name", "is required"))
        elif not NAME_PATTERN.fullmatch(conversion.name):
            violations.append(Violation("conversion.name", NAME_RULE))
        if conversion.value is None:
            return 0, None
        return self._money(conversion.value, "conversion.value", occurred_at, violations)

    def _outcome(
        self, incoming: IncomingEvent, occurred_at: datetime, violations: list[Violation]
    ) -> tuple[int, Money | None, int, Money | None]:
        """An outcome's new value and refund, each in the reporting currency (micros) and as
        sent; violations for a missing name or order id, a bad stage, an outcome that says
        nothing or says contradictory things."""
        outcome = incoming.outcome
        if outcome is None:
            return 0, None, 0, None
        if not outcome.conversion_name:
            violations.append(Violation("outcome.conversion_name", "is required"))
        elif not NAME_PATTERN.fullmatch(outcome.conversion_name):
            violations.append(Violation("outcome.conversion_name", NAME_RULE))
        if not outcome.order_id.strip():
            violations.append(Violation("outcome.order_id", "is required: it names the conversion"))
        if outcome.stage and not NAME_PATTERN.fullmatch(outcome.stage):
            violations.append(Violation("outcome.stage", NAME_RULE))
        if not (
            outcome.stage
            or outcome.value is not None
            or outcome.refund is not None
            or outcome.retracted
        ):
            violations.append(
                Violation("outcome", "says nothing: give a stage, a value, a refund or retracted")
            )
        if outcome.value is not None and outcome.refund is not None:
            violations.append(
                Violation("outcome.refund", "send either a new value or a refund, not both")
            )
        if outcome.retracted and (outcome.value is not None or outcome.refund is not None):
            violations.append(
                Violation("outcome.retracted", "a retraction carries no value or refund")
            )
        value_micros, value = 0, None
        if outcome.value is not None:
            value_micros, value = self._money(
                outcome.value, "outcome.value", occurred_at, violations
            )
        refund_micros, refund = 0, None
        if outcome.refund is not None:
            refund_micros, refund = self._money(
                outcome.refund, "outcome.refund", occurred_at, violations
            )
        return value_micros, value, refund_micros, refund

    def _money(
        self, value: Money, field: str, occurred_at: datetime, violations: list[Violation]
    ) -> tuple[int, Money | None]:
        """An amount in the reporting currency at the rates of the event's UTC date (in
        micros), and as sent; (0, None) with violations on `field` when it is invalid."""
        before = len(violations)
        if not is_known_currency(value.currency_code):
            violations.append(
                Violation(
                    f"{field}.currency_code",
                    f"{value.currency_code!r} is not an ISO 4217 currency code",
                )
            )
        if not -999_999_999 <= value.nanos <= 999_999_999:
            violations.append(
                Violation(f"{field}.nanos", "must be between -999999999 and 999999999")
            )
        elif (value.units > 0 and value.nanos < 0) or (value.units < 0 and value.nanos > 0):
            violations.append(Violation(field, "units and nanos must have the same sign"))
        elif value.units < 0 or value.nanos < 0:
            violations.append(Violation(field, "must not be negative"))
        elif value.units >= MAX_VALUE_UNITS:
            violations.append(Violation(field, f"must be less than {MAX_VALUE_UNITS:,} units"))
        if len(violations) > before:
            return 0, None
        reporting = self._reporting_currency
        day = occurred_at.astimezone(UTC).date()
        try:
            converted: Money | None = self._rates.convert(value, reporting, day)
        except UnknownRateError as exc:
            violations.append(
                Violation(
                    f"{field}.currency_code",
                    f"no exchange rate from {value.currency_code} to {reporting} on {day}: "
                    f"{exc.code} is neither among the ECB reference rates nor pegged to one; "
                    "its rates can be given in the deployment's rates file "
                    "(INGEST_FX_RATES_FILE)",
                )
            )
            return 0, None
        except MoneyError:
            converted = None  # beyond even Money's int64 units
        if converted is None or converted.to_micros() > MAX_MICROS:
            largest = Money.from_micros(reporting, MAX_MICROS).to_decimal().normalize()
            violations.append(
                Violation(
                    field,
                    f"is more than {largest:,f} {reporting} once converted to {reporting}, "
                    "the reporting currency (the largest value stored)",
                )
            )
            return 0, None
        return converted.to_micros(), value


@dataclass(frozen=True, slots=True)
class _Context:
    """What an event's client context (IP address, country, city) comes to: its violations,
    the country and city normalised ("" when invalid or blank) and the address to
    pseudonymise (None when none was sent, it is invalid or it does not tell clients apart)."""

    violations: tuple[Violation, ...]
    country: str
    city: str
    forwarded_address: IPAddress | None


def _read_context(sent: tuple[str, str, str]) -> _Context:
    """The `_Context` of an event's (IP address, country, city) as sent."""
    ip_text, country_text, city_text = sent
    violations: list[Violation] = []
    address = None
    try:
        address = parse_ip_address(ip_text)
    except InvalidSignalError as error:
        violations.append(Violation("context.ip_address", str(error)))
    country = city = ""
    try:
        country = normalise_country(country_text)
    except InvalidSignalError as error:
        violations.append(Violation("context.geo_country", str(error)))
    try:
        city = normalise_city(city_text)
    except InvalidSignalError as error:
        violations.append(Violation("context.geo_city", str(error)))
    forwarded = address if address is not None and distinguishes_clients(address) else None
    return _Context(tuple(violations), country, city, forwarded)


def _missing_identifier_violations(
    sent: list[tuple[str, str, str]], placeholders: list[str | None]
) -> list[Violation]:
    """No violation when an event sent a real identifier ((field, key prefix, value) with
    why each is a placeholder, None for a real one); one per field when each holds a
    placeholder ("undefined", "null", an all-zero id, the hash of an empty string); one on
    "identity" when nothing was sent."""
    if not sent:
        return [
            Violation(
                "identity", "at least one of anonymous_id, user_id, email, email_sha256 is required"
            )
        ]
    if not all(placeholders):
        return []
    return [
        Violation(
            field,
            f'"{_shortened(value)}" is a placeholder ({reason}), and the event has no '
            "other identifier: at least one real identifier is required",
        )
        for (field, _, value), reason in zip(sent, placeholders, strict=True)
    ]


def _shortened(value: str, length: int = 64) -> str:
    return value if len(value) <= length else value[: length - 1] + "…"


def _record_id(incoming: IncomingEvent) -> UUID:
    """The fact's deterministic id: a conversion with an order id by (name, order id)."""
    conversion = incoming.conversion
    if incoming.kind is EventKind.CONVERSION and conversion is not None:
        return conversion_record_id(
            incoming.property_id, incoming.event_id, conversion.name, conversion.order_id
        )
    return record_id(incoming.property_id, incoming.event_id)


def _may_hold_nul(incoming: IncomingEvent) -> bool:
    """Whether any text field of the event may hold NUL: one search of the fields joined
    (almost every event holds none), before `_text_fields` names the field that does."""
    text = (
        incoming.event_id
        + incoming.anonymous_id
        + incoming.user_id
        + incoming.user_agent
        + incoming.page_url
        + incoming.referrer
    )
    if NUL in text:
        return True
    touch, page_view = incoming.touchpoint, incoming.page_view
    if touch is not None:
        tags = touch.tags
        text = (
            touch.landing_url
            + touch.referrer
            + tags.source
            + tags.medium
            + tags.campaign
            + tags.term
            + tags.content
        )
        clicks = touch.click_ids
        if NUL in text or (
            clicks != _NO_CLICK_IDS and any(NUL in value for _, value in clicks.items())
        ):
            return True
    if page_view is not None and (NUL in page_view.url or NUL in page_view.title):
        return True
    conversion, outcome = incoming.conversion, incoming.outcome
    return (conversion is not None and NUL in conversion.order_id) or (
        outcome is not None and NUL in outcome.order_id
    )


def _text_fields(incoming: IncomingEvent) -> list[tuple[str, str]]:
    """The event's free-text fields, by field path."""
    fields = [
        ("event_id", incoming.event_id),
        ("identity.anonymous_id", incoming.anonymous_id),
        ("identity.user_id", incoming.user_id),
        ("context.user_agent", incoming.user_agent),
        ("context.page_url", incoming.page_url),
        ("context.referrer", incoming.referrer),
    ]
    if incoming.touchpoint is not None:
        touch, tags, clicks = (
            incoming.touchpoint,
            incoming.touchpoint.tags,
            incoming.touchpoint.click_ids,
        )
        fields += [
            ("touchpoint.landing_url", touch.landing_url),
            ("touchpoint.referrer", touch.referrer),
            ("touchpoint.utm.source", tags.source),
            ("touchpoint.utm.medium", tags.medium),
            ("touchpoint.utm.campaign", tags.campaign),
            ("touchpoint.utm.term", tags.term),
            ("touchpoint.utm.content", tags.content),
        ]
        fields += [(f"touchpoint.click_ids.{name}", value) for name, value in clicks.items()]
    if incoming.page_view is not None:
        fields += [
            ("page_view.url", incoming.page_view.url),
            ("page_view.title", incoming.page_view.title),
        ]
    if incoming.conversion is not None:
        fields.append(("conversion.order_id", incoming.conversion.order_id))
    if incoming.outcome is not None:
        fields.append(("outcome.order_id", incoming.outcome.order_id))
    return fields


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"
