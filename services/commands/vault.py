"""`convtrack vault`: move the legacy vault secret out of ingest's database, retire an old one."""

from __future__ import annotations

import argparse
import os

from common.settings import SettingsError, process_env
from services.ingest import server as ingest_server
from services.ingest.vault import legacy_secret


def export_legacy_secret(args: argparse.Namespace) -> int:
    """Writes the secret an older ingest kept in its database to a new file (hex, mode 0600);
    the database keeps it until `convtrack migrate` finds it configured."""
    settings = ingest_server.IngestSettings.from_env(process_env())
    engine = ingest_server.database_of(settings).sql_engine()
    try:
        legacy = legacy_secret(engine)
    finally:
        engine.dispose()
    if legacy is None:
        print("ingest's database holds no vault secret: nothing to export.")
        return 0
    try:
        descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise SettingsError(f"--out: cannot create {str(args.out)!r} ({error.strerror})") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(legacy.key.hex() + "\n")
    print(
        f"Wrote the vault secret {legacy.version} to {args.out}. Add its line to "
        "INGEST_VAULT_SECRET_PREVIOUS_FILE (or the value to INGEST_VAULT_SECRET_PREVIOUS), "
        "restart ingest, then run `convtrack migrate` to drop it from the database."
    )
    return 0


def retire(args: argparse.Namespace) -> int:
    """Lets ingest start without a previous secret: identifiers pseudonymised under it get
    the current secret's pseudonym when seen again (their old pseudonyms stay revealable)."""
    settings = ingest_server.IngestSettings.from_env(process_env())
    engine = ingest_server.database_of(settings).sql_engine()
    try:
        retired = ingest_server.subject_vault(settings, engine).retire_secret(args.version)
    finally:
        engine.dispose()
    if not retired:
        print(f"ingest's store has not used a vault secret {args.version}: nothing retired.")
        return 1
    print(
        f"Retired the vault secret {args.version}: remove it from "
        "INGEST_VAULT_SECRET_PREVIOUS and restart ingest."
    )
    return 0
