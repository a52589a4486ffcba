"""The subject vault: stable pseudonyms, sealed identifiers, and keys destroyed on erasure."""

from __future__ import annotations

import time
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path

import pytest

from common.consent import Consent, ConsentState
from common.follower import Follower, UpstreamEntry
from common.storage import create_sql_engine
from common.values import IdentifierType
from services.ingest.vault import IP_KIND, LOOKUP_CHUNK, NETWORK_KIND, Forgotten, SubjectVault
from services.ingest.vault_secrets import VaultSecret, VaultSecrets

SECRETS = VaultSecrets(VaultSecret(bytes(range(32))))


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[SubjectVault]:
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'ingest.db'}")
    vault = SubjectVault(engine, SECRETS)
    vault.create_tables()
    yield vault
    engine.dispose()


def test_pseudonyms_keep_the_kind_and_are_stable_per_property(vault: SubjectVault) -> None:
    first = vault.pseudonym("shop", "user:u-1")
    assert first.startswith("user:") and "u-1" not in first
    assert vault.pseudonym("shop", "user:u-1") == first
    assert vault.pseudonym("other-shop", "user:u-1") != first


def test_sealed_identifiers_can_be_revealed_until_forgotten(vault: SubjectVault) -> None:
    sealed = vault.seal("shop", ["user:u-1", "anon:c-1"])
    pseudonyms = [sealed["user:u-1"].pseudonym, sealed["anon:c-1"].pseudonym]
    assert "u-1" not in sealed["user:u-1"].token
    assert vault.reveal("shop", pseudonyms) == {
        pseudonyms[0]: "user:u-1",
        pseudonyms[1]: "anon:c-1",
    }

    vault.process_page("identity", [UpstreamEntry(7, Forgotten("shop", (pseudonyms[0],)))])

    assert vault.reveal("shop", pseudonyms) == {pseudonyms[1]: "anon:c-1"}
    assert vault.position("identity") == 7


def test_forgetting_a_person_erases_their_consent(
    vault: SubjectVault,
) -> None:
    withdrawn = Consent(ConsentState.DENIED, ConsentState.GRANTED)
    granted = Consent(ConsentState.GRANTED, ConsentState.GRANTED)
    user, anon = vault.pseudonym("shop", "user:u-1"), vault.pseudonym("shop", "anon:c-1")
    vault.record_consents("shop", {user: withdrawn, anon: granted})

    vault.process_page("identity", [UpstreamEntry(3, Forgotten("shop", (user,)))])

    assert vault.consents("shop", [user, anon]) == {anon: granted}
    assert vault.pseudonym("shop", "user:u-1") == user


def test_the_same_identifier_sealed_twice_uses_one_key(vault: SubjectVault) -> None:
    once = vault.seal("shop", ["email:abc"])["email:abc"]
    again = vault.seal("shop", ["email:abc"])["email:abc"]
    assert once.pseudonym == again.pseudonym
    assert once.token != again.token
    assert vault.reveal("shop", [once.pseudonym]) == {once.pseudonym: "email:abc"}


def test_ip_pseudonyms_are_stable_per_property_and_group_addresses_by_network(
    vault: SubjectVault,
) -> None:
    # An address has one pseudonym within a property and another in a different property.
    first = vault.network_pseudonyms("shop", ip_address("81.2.69.142"))
    assert vault.network_pseudonyms("shop", ip_address("81.2.69.142")) == first
    assert vault.network_pseudonyms("other-shop", ip_address("81.2.69.142")).ip != first.ip
    assert first.ip.startswith("ip:") and first.network.startswith("net:")
    assert "81.2.69" not in first.ip + first.network

    # Another address in the same /24 shares the network pseudonym only.
    neighbour = vault.network_pseudonyms("shop", ip_address("81.2.69.160"))
    assert neighbour.ip != first.ip
    assert neighbour.network == first.network

    # An address in another /24 shares neither.
    elsewhere = vault.network_pseudonyms("shop", ip_address("81.2.70.142"))
    assert (elsewhere.ip, elsewhere.network) != (first.ip, first.network)
    assert elsewhere.network != first.network

    # IPv6 addresses are grouped by their /64.
    a = vault.network_pseudonyms("shop", ip_address("2a00:1450:4001:81b::200e"))
    b = vault.network_pseudonyms("shop", ip_address("2a00:1450:4001:81b:1::1"))
    c = vault.network_pseudonyms("shop", ip_address("2a00:1450:4001:81c::200e"))
    assert a.network == b.network != c.network


def test_ip_pseudonyms_never_equal_an_identifier_pseudonym_and_nothing_is_stored(
    vault: SubjectVault, tmp_path: Path
) -> None:
    # No identifier kind is named like the IP and network pseudonyms' kinds.
    assert {IP_KIND, NETWORK_KIND}.isdisjoint(kind.value for kind in IdentifierType)

    # An identifier whose value is the address gets another pseudonym, digest included.
    pseudonyms = vault.network_pseudonyms("shop", ip_address("81.2.69.142"))
    as_identifier = vault.pseudonym("shop", "user:81.2.69.142")
    assert as_identifier not in (pseudonyms.ip, pseudonyms.network)
    assert as_identifier.partition(":")[2] != pseudonyms.ip.partition(":")[2]

    # Pseudonymising an address creates no key and stores nothing about it.
    assert vault.reveal("shop", [pseudonyms.ip, pseudonyms.network]) == {}
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("ingest.db*"))
    assert b"81.2.69" not in stored


class Standby:
    """The leadership of a replica that another replica leads."""

    term: int | None = None

    def close(self) -> None:
        """Nothing held."""


class NoEntries:
    """An upstream a standby never reads."""

    name = "identity"

    def read(self, after: int, limit: int, max_wait: float) -> list[UpstreamEntry[Forgotten]]:
        raise AssertionError("a standby must not read")

    def head(self) -> int | None:
        return None


def test_a_standby_replica_does_not_seal_with_a_key_the_leader_destroyed(
    vault: SubjectVault, tmp_path: Path
) -> None:
    # Two ingest replicas on one store; the second stands by for identity's log.
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'ingest.db'}")
    standby = SubjectVault(engine, SECRETS)
    follower = Follower(
        NoEntries(),
        standby,
        lock=standby.lock,
        leadership=Standby(),
        on_standby=standby.forget_cached_keys,
    )
    try:
        pseudonym = standby.seal("shop", ["user:u-1"])["user:u-1"].pseudonym  # key now cached

        # The leader forgets the person; the standby learns it only from the shared store.
        vault.process_page("identity", [UpstreamEntry(1, Forgotten("shop", (pseudonym,)))])
        follower.start()
        time.sleep(1.5)

        # A new event of the same identifier gets a new key, which the store holds.
        standby.seal("shop", ["user:u-1"])
        assert vault.reveal("shop", [pseudonym]) == {pseudonym: "user:u-1"}
    finally:
        follower.stop()
        engine.dispose()


def test_consents_of_more_pseudonyms_than_one_lookup_holds_are_all_found(
    vault: SubjectVault,
) -> None:
    granted = Consent(ConsentState.GRANTED, ConsentState.DENIED)
    recorded = {vault.pseudonym("shop", f"anon:c-{i}"): granted for i in range(LOOKUP_CHUNK + 7)}
    vault.record_consents("shop", recorded)
    vault.record_consents("other-shop", {next(iter(recorded)): granted})
    unknown = vault.pseudonym("shop", "anon:never-seen")

    # Every pseudonym asked twice, one never recorded among them.
    found = vault.consents("shop", [*recorded, unknown, *recorded])

    assert found == recorded
