"""The guarded resolver's pure decider: what an observation, unlink, split or erasure decides."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from datetime import datetime

from services.identity.observations import IdentifierKind, ObservationRecord
from services.identity.resolution.decisions import (
    Decision,
    Evidence,
    IdentifierMarkedShared,
    IdentifiersLinked,
    MergeRefused,
    ObservationIgnored,
    PersonCreated,
    PersonForgotten,
    PersonsMerged,
    PersonSplit,
)
from services.identity.resolution.errors import ResolutionError, UnknownIdentifierError
from services.identity.resolution.person_ids import person_id_for, split_person_id
from services.identity.resolution.rules import IdentityRules, kind_of
from services.identity.resolution.state import ResolutionState

_LOWEST = 1 << 30


def decide(state: ResolutionState, rules: IdentityRules, obs: ObservationRecord) -> list[Decision]:
    """What observing `obs` decides, given the state (pure: the state is not changed).

    Blocked identifiers are ignored; shared identifiers do not join. When joining the persons of
    the observation would exceed a kind's max-per-person limit, the merge is refused and the
    lowest-priority identifier taking part in the conflict is dropped, then the join is retried.
    The older person survives a merge. A dropped identifier counts as seen with every person
    the observation touched (not an email or phone dropped for want of a stronger identifier
    in a conflict over another kind); one seen with too many persons is marked shared,
    detached, and the person it alone held together is split. A new record of a
    `duplicate_records` kind joins as a duplicate (counted once) instead of being dropped when
    it and the records of its kind the persons hold give one date of birth between them (at
    least one gives it, none gives another).
    """
    decisions: list[Decision] = []
    identifiers = tuple(dict.fromkeys(obs.identifiers))
    owner_of = state.person_by_identifier
    joining: list[str] = []
    persons: set[str] = set()
    new = False
    for identifier in identifiers:
        person = owner_of.get(identifier)
        if person is None:
            reason = rules.blocked_reason(identifier)
            if reason is not None:
                decisions.append(ObservationIgnored(identifier, reason, obs.obs_id))
                continue
            new = True
        elif identifier in state.shared:
            continue
        else:
            persons.add(person)
        joining.append(identifier)
    evidence = Evidence(obs.obs_id, identifiers)
    if _devices_kept_apart(rules, joining):
        for device in [i for i in joining if kind_of(i) == IdentifierKind.ANONYMOUS.value]:
            joining.remove(device)
            if device not in owner_of:
                person = person_id_for(state.property_id, device)
                decisions.append(PersonCreated(person, (device,), evidence))
        new = any(i not in owner_of for i in joining)
        persons = {owner_of[i] for i in joining if i in owner_of}
    if not new and len(persons) <= 1:
        return decisions
    dropped: list[tuple[str, str, bool, bool]] = []
    birth_date = _birth_date_digest(obs)
    duplicates: list[str] = []
    while True:
        conflict = _conflict(state, rules, joining, duplicates)
        if conflict is not None:
            kind, count, limit, unvouched = conflict
            record = _new_duplicate_record(state, rules, joining, kind)
            if (
                record is not None
                and record not in duplicates
                and _one_birth_date(state, joining, record, birth_date)
            ):
                duplicates.append(record)
                continue
            held = [] if record is not None else _held_duplicates(state, rules, joining, kind)
            if held:
                duplicates.extend(held)
                continue
            victim = _victim(state, rules, joining, kind) if record is None else record
            reason = f"a person would have {count} {kind} identifiers (at most {limit}" + (
                " without a stronger identifier in the observation)" if unvouched else ")"
            )
            keeps_apart = not unvouched and record is None
            counts = not unvouched or not _bystander(rules, victim, kind)
        else:
            apart = _kept_apart(state, joining)
            if apart is None:
                break
            victim = _lowest_priority(state, rules, joining, apart)
            reason = "the persons were kept apart (split or refused before)"
            keeps_apart = counts = True
        joining.remove(victim)
        dropped.append((victim, reason, keeps_apart, counts))
    final_of: dict[str, str] = {}
    dated = _birth_dates(rules, identifiers, owner_of, birth_date)
    decisions.extend(_join(state, joining, evidence, final_of, dated, duplicates))
    for victim, *_ in dropped:
        owner = owner_of.get(victim)
        if owner is None:
            person = person_id_for(state.property_id, victim)
            decisions.append(PersonCreated(person, (victim,), evidence, _only(dated, (victim,))))
            final_of[victim] = person
        else:
            final_of[victim] = final_of.get(owner, owner)
    if not dropped:
        return decisions
    kept_apart = tuple(dict.fromkeys(final_of[i] for i in (*joining, *(v for v, *_ in dropped))))
    for victim, reason, keeps, counts in dropped:
        decisions.append(MergeRefused(evidence, kept_apart, reason, victim, obs.ts, keeps, counts))
    counted = [victim for victim, _, _, counts in dropped if counts]
    marks = _fanout(state, rules, obs, evidence, counted, final_of, kept_apart)
    if marks:
        involved = {owner_of[i] for i in identifiers if i in owner_of and i not in state.shared}
        shadow = state.shadow(involved)
        for decision in decisions:
            shadow.apply(decision)
        for mark in marks:
            owner = shadow.person_by_identifier[mark.identifier]
            decisions.append(mark)
            shadow.apply(mark)
            split = _split(shadow, owner, evidence)
            if split is not None:
                decisions.append(split)
                shadow.apply(split)
    return decisions


def _birth_date_digest(obs: ObservationRecord) -> str:
    """A digest of the date of birth the observation's record gives ("" when none)."""
    value = obs.date_of_birth.strip()
    if not value:
        return ""
    return hashlib.sha256(f"date_of_birth:{value}".encode()).hexdigest()


def _birth_dates(
    rules: IdentityRules, identifiers: Sequence[str], owner_of: dict[str, str], digest: str
) -> tuple[tuple[str, str], ...]:
    """(identifier, date digest) for the observation's new records of `duplicate_records`
    kinds, when its record gives a date of birth."""
    if not digest:
        return ()
    return tuple(
        (identifier, digest)
        for identifier in identifiers
        if identifier not in owner_of
        and (rule := rules.kinds.get(kind_of(identifier))) is not None
        and rule.duplicate_records
    )


def _only(
    dated: tuple[tuple[str, str], ...], identifiers: Collection[str]
) -> tuple[tuple[str, str], ...]:
    return tuple(pair for pair in dated if pair[0] in identifiers)


def _one_birth_date(state: ResolutionState, joining: list[str], record: str, digest: str) -> bool:
    """Whether the new `record` and the records of its kind that the join's persons hold give
    one date of birth between them: at least one of them gives it, and none gives another.

    Then the new record is the same customer entered again (a duplicate keeps the date or
    leaves it out, on either record), not a partner's record that reached the person through
    a family mailbox (two people's records give two dates). Records that give no date at all
    (the service's decisions carry none) prove nothing, and the record is dropped as before.
    """
    kind = kind_of(record)
    owner_of = state.person_by_identifier
    persons = {owner_of[i] for i in joining if i in owner_of}
    held = [
        identifier
        for person in persons
        for identifier in state.identifiers_by_person[person]
        if kind_of(identifier) == kind
    ]
    if not held:
        return False
    dates = {state.birth_dates[i] for i in held if i in state.birth_dates}
    if digest:
        dates.add(digest)
    return len(dates) == 1


def _held_duplicates(
    state: ResolutionState, rules: IdentityRules, joining: list[str], kind: str
) -> list[str]:
    """The records of `kind` that joining the persons would make duplicates: when the kind's
    records may be entered twice (`duplicate_records`) and the records the persons hold give
    one date of birth between them, those of every person but the first (oldest) holding one
    (they then count once, as a new record would); else none."""
    rule = rules.kinds.get(kind)
    if rule is None or not rule.duplicate_records:
        return []
    owner_of = state.person_by_identifier
    persons = sorted(
        {owner_of[i] for i in joining if i in owner_of}, key=state.created_seq.__getitem__
    )
    held = [
        [i for i in state.identifiers_by_person[person] if kind_of(i) == kind] for person in persons
    ]
    dates = {state.birth_dates[i] for records in held for i in records if i in state.birth_dates}
    if len(dates) != 1:
        return []
    holders = [[i for i in records if i not in state.duplicates] for records in held]
    counted = [records for records in holders if records]
    return [identifier for records in counted[1:] for identifier in records]


def _bystander(rules: IdentityRules, identifier: str, kind: str) -> bool:
    """Whether `identifier`, dropped in a conflict over `kind`, names a person of its own
    kind (a phone dropped because it brought a second email): it was not what broke the limit."""
    rule = rules.kinds.get(kind_of(identifier))
    return kind_of(identifier) != kind and rule is not None and rule.names_person


def _devices_kept_apart(rules: IdentityRules, joining: list[str]) -> bool:
    """Whether the strongest kind of the join keeps its devices apart (see `KindRule`)."""
    ranked = [(rules.kinds[kind_of(i)].priority, kind_of(i)) for i in joining]
    return bool(ranked) and rules.kinds[min(ranked)[1]].keeps_devices_apart


def _split(state: ResolutionState, person: str, evidence: Evidence) -> PersonSplit | None:
    """The parts of a person no longer connected to its oldest identifier, if any."""
    components = state.components(person)
    if len(components) <= 1:
        return None
    parts = tuple(
        (split_person_id(state.property_id, part[0], evidence.obs_id), tuple(part))
        for part in components[1:]
    )
    return PersonSplit(person, parts, evidence)


def _conflict(
    state: ResolutionState,
    rules: IdentityRules,
    joining: list[str],
    duplicates: Collection[str] = (),
) -> tuple[str, int, int, bool] | None:
    """The first kind (by priority) whose limit the join would break: (kind, count, limit,
    whether the limit is `max_unvouched`, as nothing in the join vouches for the kind). New
    records joining as `duplicates` do not count.

    A stronger identifier vouches for a kind, and so does a known identifier of another kind
    that names a person (`_vouched_by_known`).
    """
    owner_of = state.person_by_identifier
    strongest = min(
        (rules.kinds[kind_of(i)].priority for i in joining if kind_of(i) in rules.kinds),
        default=_LOWEST,
    )
    totals: dict[str, int] = {}
    counted: set[str] = set()
    for identifier in joining:
        person = owner_of.get(identifier)
        if person is None:
            if identifier in duplicates:
                continue
            kind = kind_of(identifier)
            totals[kind] = totals.get(kind, 0) + 1
        elif person not in counted:
            counted.add(person)
            for kind, count in state.kind_counts[person].items():
                totals[kind] = totals.get(kind, 0) + count
    for identifier in duplicates:
        if identifier in owner_of:
            kind = kind_of(identifier)
            totals[kind] = totals.get(kind, 0) - 1
    worst: tuple[int, str, int, int, bool] | None = None
    for kind, count in totals.items():
        rule = rules.kinds.get(kind)
        if rule is None:
            continue
        limit, unvouched = rule.max_per_person, False
        vouched_only = rule.max_unvouched
        if (
            vouched_only is not None
            and strongest >= rule.priority
            and not _vouched_by_known(state, rules, joining, kind)
            and (limit is None or vouched_only < limit)
        ):
            limit, unvouched = vouched_only, True
        if limit is not None and count > limit:
            candidate = (rule.priority, kind, count, limit, unvouched)
            if worst is None or candidate < worst:
                worst = candidate
    return None if worst is None else worst[1:]


def _vouched_by_known(
    state: ResolutionState, rules: IdentityRules, joining: list[str], kind: str
) -> bool:
    """Whether the join shows a known identifier of another kind that names a person
    (`names_person`), whose person holds identifiers of `kind` but none of those of `kind` in
    the join: the person's own phone typed with its second email brings the email to the
    person, as a login would. (A cookie that brings the person does not vouch, nor a phone
    typed with its own person's email.)"""
    owner_of = state.person_by_identifier
    for identifier in joining:
        person = owner_of.get(identifier)
        rule = rules.kinds.get(kind_of(identifier))
        if (
            person is not None
            and rule is not None
            and rule.names_person
            and kind_of(identifier) != kind
            and state.kind_counts[person].get(kind)
            and all(owner_of.get(i) != person for i in joining if kind_of(i) == kind)
        ):
            return True
    return False


def _kept_apart(state: ResolutionState, joining: list[str]) -> tuple[str, str] | None:
    """Two persons of the join that were kept apart (a split or an earlier refusal), if any."""
    owner_of = state.person_by_identifier
    persons = list(dict.fromkeys(owner_of[i] for i in joining if i in owner_of))
    for index, person in enumerate(persons):
        apart = state.kept_apart.get(person, set())
        for other in persons[index + 1 :]:
            if other in apart:
                return person, other
    return None


def _lowest_priority(
    state: ResolutionState, rules: IdentityRules, joining: list[str], persons: tuple[str, str]
) -> str:
    """The lowest-priority identifier of the join that belongs to one of these persons."""
    owner_of = state.person_by_identifier
    candidates = [
        (rules.kinds[kind_of(i)].priority if kind_of(i) in rules.kinds else _LOWEST, p, i)
        for p, i in enumerate(joining)
        if owner_of.get(i) in persons
    ]
    return max(candidates)[2]


def _new_duplicate_record(
    state: ResolutionState, rules: IdentityRules, joining: list[str], kind: str
) -> str | None:
    """The last new identifier of `kind` in the join when the kind's records may be entered
    twice for one person (`duplicate_records`), else None.

    A new CRM record that would be a person's second is most often the same customer entered
    again. It is dropped, not the email or phone that ties it to the person (an email or
    phone dropped with two persons is marked shared at once, which would split the person),
    and the refusal does not keep the two apart: a probabilistic link may join duplicates.
    """
    rule = rules.kinds.get(kind)
    if rule is None or not rule.duplicate_records:
        return None
    owner_of = state.person_by_identifier
    new = [i for i in joining if kind_of(i) == kind and i not in owner_of]
    return new[-1] if new else None


def _victim(state: ResolutionState, rules: IdentityRules, joining: list[str], kind: str) -> str:
    """The lowest-priority identifier of the join that brings identifiers of `kind`.

    Ties drop new identifiers before known ones, then the later one in the observation.
    """
    owner_of = state.person_by_identifier
    best: tuple[int, int, int] | None = None
    victim = joining[-1]
    for position, identifier in enumerate(joining):
        person = owner_of.get(identifier)
        if person is None:
            if kind_of(identifier) != kind:
                continue
        elif not state.kind_counts[person].get(kind):
            continue
        rule = rules.kinds.get(kind_of(identifier))
        key = (rule.priority if rule is not None else _LOWEST, person is None, position)
        if best is None or key > best:
            best, victim = key, identifier
    return victim


def _join(
    state: ResolutionState,
    joining: list[str],
    evidence: Evidence,
    final_of: dict[str, str],
    dated: tuple[tuple[str, str], ...] = (),
    duplicates: Sequence[str] = (),
) -> list[Decision]:
    """Creates, links and merges so that the joining identifiers form one person (new records
    with their dates of birth, `duplicates` marked as such)."""
    owner_of = state.person_by_identifier
    persons = list(dict.fromkeys(owner_of[i] for i in joining if i in owner_of))
    new = tuple(i for i in joining if i not in owner_of)
    decisions: list[Decision] = []
    joined = tuple(joining)
    if not persons:
        if not new:
            return decisions
        survivor = person_id_for(state.property_id, new[0])
        decisions.append(PersonCreated(survivor, new, evidence, _only(dated, new)))
    else:
        persons.sort(key=state.created_seq.__getitem__)
        survivor = persons[0]
        for younger in persons[1:]:
            moved = tuple(state.identifiers_by_person[younger])
            held = tuple(i for i in moved if i in duplicates)
            decisions.append(PersonsMerged(survivor, younger, moved, evidence, joined, held))
            final_of[younger] = survivor
        if new:
            decisions.append(
                IdentifiersLinked(
                    survivor,
                    new,
                    evidence,
                    joined,
                    _only(dated, new),
                    tuple(i for i in duplicates if i in new),
                )
            )
    for identifier in joining:
        final_of[identifier] = survivor
    final_of[survivor] = survivor
    return decisions


def _fanout(
    state: ResolutionState,
    rules: IdentityRules,
    obs: ObservationRecord,
    evidence: Evidence,
    dropped: list[str],
    final_of: dict[str, str],
    kept_apart: tuple[str, ...],
) -> list[IdentifierMarkedShared]:
    """Marks shared the dropped identifiers that refusals have now seen with too many persons.

    A dropped identifier is seen with every person the refused observation touched; the
    identifiers that stayed are not counted (the refusal blamed the dropped one).
    """
    decisions: list[IdentifierMarkedShared] = []
    horizon = None if obs.ts is None else obs.ts - rules.fanout_window
    for identifier in dropped:
        if identifier in state.shared:
            continue
        seen: dict[str, datetime | None] = dict(state.fanout.get(identifier, {}))
        for person in kept_apart:
            seen[person] = obs.ts
        recent: set[str] = set()
        for person, ts in seen.items():
            if horizon is not None and ts is not None and not _not_before(ts, horizon):
                continue
            current = state.current_person(person)
            recent.add(final_of.get(current, current))
        if len(recent) > rules.fanout_limit(kind_of(identifier)):
            decisions.append(IdentifierMarkedShared(identifier, tuple(sorted(recent)), evidence))
    return decisions


def _not_before(ts: datetime, horizon: datetime) -> bool:
    try:
        return ts >= horizon
    except TypeError:  # naive against aware: compare as if both were UTC
        return ts.replace(tzinfo=None) >= horizon.replace(tzinfo=None)


def decide_unlink(state: ResolutionState, identifier: str, evidence: Evidence) -> list[Decision]:
    """Detaches an identifier from its person for good: like a shared identifier, it stops
    joining persons (so replaying the same observations cannot merge them again), and the
    parts of the person that only it held together split off."""
    owner = state.person_by_identifier.get(identifier)
    if owner is None:
        raise UnknownIdentifierError(f"{identifier} has not been resolved")
    if identifier in state.shared:
        return []
    shadow = state.shadow([owner])
    mark = IdentifierMarkedShared(identifier, (owner,), evidence)
    shadow.apply(mark)
    split = _split(shadow, owner, evidence)
    return [mark] if split is None else [mark, split]


def decide_forget(state: ResolutionState, person: str, evidence: Evidence) -> list[Decision]:
    """Forgets a person and all its identifiers."""
    person = state.current_person(person)
    members = state.identifiers_by_person.get(person)
    if members is None:
        raise UnknownIdentifierError(f"no person {person}")
    return [PersonForgotten(person, tuple(members), evidence)]


def decide_split(
    state: ResolutionState, person: str, identifiers: Sequence[str], evidence: Evidence
) -> list[Decision]:
    """Moves some of a person's identifiers into a new person and keeps the two apart from now
    on (a later observation that would join them is refused)."""
    person = state.current_person(person)
    members = state.identifiers_by_person.get(person)
    if members is None:
        raise UnknownIdentifierError(f"no person {person}")
    leaving = tuple(dict.fromkeys(identifiers))
    foreign = [i for i in leaving if i not in members]
    if foreign:
        raise ResolutionError(f"{', '.join(foreign)} do not belong to person {person}")
    if not leaving or len(leaving) == len(members):
        raise ResolutionError("a split must leave identifiers on both sides")
    new_person = split_person_id(state.property_id, leaving[0], evidence.obs_id)
    return [
        PersonSplit(person, ((new_person, leaving),), evidence),
        MergeRefused(evidence, (person, new_person), "split by request", ""),
    ]


__all__ = ["decide", "decide_forget", "decide_split", "decide_unlink"]
