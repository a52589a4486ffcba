"""Reading what ingest's vault leaves in PostgreSQL's pages, below what SELECT can see."""

from __future__ import annotations

import psycopg


def vault_tuples_holding(database_url: str, secrets: list[bytes]) -> int:
    """How many tuples of the vault table's pages, dead ones included (which SELECT cannot
    see), hold any of these bytes (read with pageinspect)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        table = "ingest.subject_keys"
        pages = conn.execute(
            "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int",
            (table,),
        ).fetchone()
        assert pages is not None
        found = 0
        for page in range(int(pages[0])):
            for (data,) in conn.execute(
                "SELECT t_data FROM heap_page_items(get_raw_page(%s, %s))", (table, page)
            ):
                if data is not None and any(s in bytes(data) for s in secrets):
                    found += 1
        return found
