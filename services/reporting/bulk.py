"""Bulk inserts and deletes of a page's view rows straight through the driver, inside the caller's
transaction: SQLAlchemy's per-row parameter processing cost more than the database's work
(docs/benchmarks.md, issue #9)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Table, select
from sqlalchemy.exc import DBAPIError

COPY_MIN_ROWS = 50
"""From how many rows PostgreSQL gets them by COPY rather than a pipelined executemany."""
IN_CHUNK = 500
"""Keys per `IN` list of a SQLite lookup (`rows_by_key`)."""


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Inserts `rows` (dicts with the same keys, Python values as for `insert(table)`) into
    `table` in `conn`'s transaction, equal to `conn.execute(insert(table), rows)`: SQLite by
    the driver's executemany, PostgreSQL by COPY. Values are converted to the driver's by
    the columns' SQLAlchemy types, once per distinct object in a run of equal ones."""
    if not rows:
        return
    columns, values = _driver_values(conn.dialect, table, rows)
    copying = conn.dialect.name == "postgresql" and len(values) >= COPY_MIN_ROWS
    statement = (_copy_statement if copying else _insert_statement)(
        conn.dialect, _schema(conn, table), table.name, columns
    )
    _on_driver(conn, statement, values, copying)


def insert_new_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Inserts the `rows` (as `insert_rows` takes them) whose primary key `table` does not
    hold yet (`ON CONFLICT DO NOTHING`): SQLite by the driver's executemany, PostgreSQL
    COPYing many rows into a temporary table and inserting from it."""
    if not rows:
        return
    columns, values = _driver_values(conn.dialect, table, rows)
    names = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in columns)
    if conn.dialect.name == "postgresql" and len(values) >= COPY_MIN_ROWS:
        staged = stage_rows(conn, table, (), columns, values, converted=True)
        conn.exec_driver_sql(
            f"INSERT INTO {qualified_name(conn, table)} ({names}) SELECT {names} "
            f"FROM {staged} ON CONFLICT DO NOTHING"
        )
        return
    statement = _insert_statement(conn.dialect, _schema(conn, table), table.name, columns)
    _on_driver(conn, f"{statement} ON CONFLICT DO NOTHING", values, copying=False)


def _driver_values(
    dialect: Dialect, table: Table, rows: Sequence[Mapping[str, Any]]
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The rows' columns, and their values as tuples converted by the columns' types."""
    columns = tuple(rows[0])
    pick = itemgetter(*columns)
    values: list[tuple[Any, ...]] = [
        pick(row) if len(columns) > 1 else (pick(row),) for row in rows
    ]
    processors = _processors(dialect, table, columns)
    return columns, _converted(values, processors) if processors else values


def by_property_chunks(
    keys: Iterable[tuple[str, str]], size: int
) -> Iterator[tuple[str, list[str]]]:
    """The (property, key) `keys` as (property, up to `size` of its keys, sorted): for
    lookups by `property_id = ? AND key IN (...)`, which both databases read from an index
    and SQLAlchemy compiles once, where an OR of (property, key) pairs is compiled anew for
    every chunk."""
    grouped: dict[str, set[str]] = {}
    for property_id, key in keys:
        grouped.setdefault(property_id, set()).add(key)
    for property_id in sorted(grouped):
        ordered = sorted(grouped[property_id])
        for start in range(0, len(ordered), size):
            yield property_id, ordered[start : start + size]


def rows_by_key(
    conn: Connection,
    table: Table,
    property_id: str,
    column: str,
    keys: Iterable[str],
    selected: Sequence[str],
    *,
    current: bool = False,
) -> list[tuple[Any, ...]]:
    """The `selected` columns (text or integers) of the rows of `table` in `property_id`
    whose `column` is one of `keys`; with `current`, only the current rows (`valid_to` NULL,
    checked here, not in SQL).

    Each key is found through an index that leads with (property, `column`), whatever the
    planner's statistics: on PostgreSQL one statement, a subquery per key of `unnest(array)`
    that `OFFSET 0` keeps apart (the planner cannot turn it into a join that reads the
    property's rows), without `valid_to IS NULL`, which would draw it to a partial index of
    current rows keyed by another column; without fresh statistics (a table growing in a
    catch-up, autovacuum behind or off) or with them, `property_id = ? AND column IN (...)`
    read the property's whole range of a (property, ...) index (docs/benchmarks.md, issue
    #9). SQLite, whose planner has no statistics and takes the key index, gets `IN` lists."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return []
    columns = [*selected, "valid_to"] if current else list(selected)
    found: list[Any] = []
    if conn.dialect.name == "postgresql":
        quote = conn.dialect.identifier_preparer.quote
        statement = (
            f"SELECT {', '.join(f'r.{quote(c)}' for c in columns)} "
            "FROM unnest(%s::text[]) AS k(key) CROSS JOIN LATERAL "
            f"(SELECT {', '.join(f't.{quote(c)}' for c in columns)} "
            f"FROM {qualified_name(conn, table)} AS t "
            f"WHERE t.property_id = %s AND t.{quote(column)} = k.key OFFSET 0) AS r"
        )
        found.extend(conn.exec_driver_sql(statement, (wanted, property_id)))
    else:
        c = table.c
        query = select(*(c[name] for name in columns)).where(c.property_id == property_id)
        for start in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[start : start + IN_CHUNK]
            found.extend(conn.execute(query.where(c[column].in_(chunk))))
    if current:
        return [row[:-1] for row in found if row[-1] is None]
    return found


def stage_rows(
    conn: Connection,
    table: Table,
    extra: Sequence[str],
    columns: Sequence[str],
    values: Sequence[tuple[Any, ...]],
    *,
    converted: bool = False,
) -> str:
    """Writes `values` (tuples in `columns`' order, Python values as for `insert(table)`, or
    driver values if `converted`) into a temporary table shaped like `table` plus the
    integer columns `extra`, emptied first, and returns its quoted name: the rows can then
    go on by `INSERT ... SELECT` and be summed in SQL, having crossed from Python once.
    SQLite gets them by the driver's executemany, PostgreSQL by COPY; the table is the
    connection's own and is emptied at the start of each use (its rows stay in the
    connection's temporary files until then)."""
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    name = f"staged_{table.name}"
    staged = quote(name)
    target = qualified_name(conn, table)
    if dialect.name == "postgresql":
        # Not ON COMMIT DELETE ROWS: that truncates every such table of the session at every
        # commit, ~3.5 ms each for a table with text columns (its TOAST table and index),
        # ~50 ms per projection commit for reporting's ~15 (docs/benchmarks.md, "PostgreSQL
        # reporting commits"). TRUNCATE empties only the table being used.
        added = "".join(f", {quote(c)} BIGINT" for c in extra)
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} (LIKE {target}{added})"
        )
        conn.exec_driver_sql(f"TRUNCATE {staged}")
    else:
        created = "".join(f", 0 AS {quote(c)}" for c in extra)
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} AS "
            f"SELECT *{created} FROM {target} WHERE 0"
        )
        conn.exec_driver_sql(f"DELETE FROM {staged}")
    if converted:
        _write_staged(conn, name, columns, values)
        return staged
    known = tuple(c for c in columns if c in table.c)
    processors = [
        (columns.index(known[index]), process)
        for index, process in _processors(dialect, table, known)
    ]
    rows = _converted(list(values), processors) if processors else values
    _write_staged(conn, name, columns, rows)
    return staged


def stage_values(
    conn: Connection,
    name: str,
    columns: Sequence[tuple[str, str]],
    values: Sequence[tuple[Any, ...]],
) -> str:
    """Writes `values` (driver values) into the temporary table `name` of the (name, SQL
    type) `columns`, emptied first, as `stage_rows` does (and kept as it keeps them); returns
    its quoted name."""
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    staged = quote(name)
    definition = ", ".join(f"{quote(column)} {kind}" for column, kind in columns)
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} ({definition})")
    conn.exec_driver_sql(
        f"{'TRUNCATE' if dialect.name == 'postgresql' else 'DELETE FROM'} {staged}"
    )
    _write_staged(conn, name, [column for column, _ in columns], values)
    return staged


def _write_staged(
    conn: Connection, name: str, columns: Sequence[str], values: Sequence[tuple[Any, ...]]
) -> None:
    if not values:
        return
    copying = conn.dialect.name == "postgresql"
    statement = (_copy_statement if copying else _insert_statement)(
        conn.dialect, None, name, tuple(columns)
    )
    _on_driver(conn, statement, values, copying)


def _schema(conn: Connection, table: Table) -> str | None:
    """The schema `table` is in on this connection (schema translation applied)."""
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(table.schema, table.schema)
    return schema


def _on_driver(
    conn: Connection, statement: str, values: Sequence[tuple[Any, ...]], copying: bool
) -> None:
    """Runs `statement` for each row of `values` (or COPYs them in) on the driver connection
    of `conn`'s transaction, with errors raised as SQLAlchemy's own execution raises them."""
    dialect = conn.dialect
    driver = conn.connection.dbapi_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        if copying:
            with cursor.copy(statement) as copy:
                for row in values:
                    copy.write_row(row)
        else:
            cursor.executemany(statement, values)
    except dialect.loaded_dbapi.Error as error:
        # As SQLAlchemy's own execution would: its exception types, a lost connection invalidated.
        lost = dialect.is_disconnect(error, driver, cursor)
        if lost:
            conn.invalidate(error)
        raise DBAPIError.instance(
            statement,
            None,
            error,
            dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=dialect,
        ) from error
    finally:
        cursor.close()


def _converted(
    values: list[tuple[Any, ...]], processors: Sequence[tuple[int, Callable[[Any], Any]]]
) -> list[tuple[Any, ...]]:
    """The rows with the processed columns converted; consecutive rows often share one
    object (a conversion's time in each of its credits), converted once."""
    last: list[tuple[Any, Any]] = [(object(), None)] * len(processors)
    out = []
    for row in values:
        mutable = list(row)
        for slot, (index, process) in enumerate(processors):
            value = mutable[index]
            seen, converted = last[slot]
            if value is not seen:
                converted = None if value is None else process(value)
                last[slot] = (value, converted)
            mutable[index] = converted
        out.append(tuple(mutable))
    return out


def _processors(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> list[tuple[int, Callable[[Any], Any]]]:
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for index, name in enumerate(columns):
        process = table.c[name].type._cached_bind_processor(dialect)
        if process is not None:
            found.append((index, process))
    return found


def qualified_name(conn: Connection, table: Table) -> str:
    """`table`'s quoted name on this connection (schema translation applied), for SQL text."""
    return _qualified(conn.dialect, _schema(conn, table), table.name)


def _qualified(dialect: Dialect, schema: str | None, name: str) -> str:
    quote = dialect.identifier_preparer.quote
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


@lru_cache(maxsize=256)
def _insert_statement(
    dialect: Dialect, schema: str | None, name: str, columns: tuple[str, ...]
) -> str:
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    return (
        f"INSERT INTO {_qualified(dialect, schema, name)} "
        f"({', '.join(quote(c) for c in columns)}) VALUES ({', '.join([marker] * len(columns))})"
    )


@lru_cache(maxsize=256)
def _copy_statement(
    dialect: Dialect, schema: str | None, name: str, columns: tuple[str, ...]
) -> str:
    quote = dialect.identifier_preparer.quote
    return (
        f"COPY {_qualified(dialect, schema, name)} ({', '.join(quote(c) for c in columns)}) "
        "FROM STDIN"
    )


def delete_keys(
    conn: Connection, table: Table, columns: Sequence[str], keys: Iterable[Sequence[Any]]
) -> None:
    """Deletes the rows of `table` whose `columns` equal one of `keys`: on SQLite by the
    driver's executemany (a key costs an index lookup, in C), on PostgreSQL by one join with
    the keys staged in a temporary table."""
    unique = list(dict.fromkeys(tuple(key) for key in keys))
    if not unique:
        return
    if conn.dialect.name == "sqlite":
        quote = conn.dialect.identifier_preparer.quote
        statement = (
            f"DELETE FROM {_qualified(conn.dialect, _schema(conn, table), table.name)} WHERE "
            + " AND ".join(f"{quote(c)} = ?" for c in columns)
        )
        _on_driver(conn, statement, unique, copying=False)
        return
    # PostgreSQL: the keys COPYed into a temporary table and deleted by a join (an IN list
    # of tuples is planned as a scan of the table while it has no statistics yet).
    quote = conn.dialect.identifier_preparer.quote
    types = [(c, str(table.c[c].type.compile(dialect=conn.dialect))) for c in columns]
    staged = stage_values(conn, f"deleted_{table.name}", types, unique)
    conn.exec_driver_sql(f"ANALYZE {staged}")
    matched = " AND ".join(f"t.{quote(c)} = s.{quote(c)}" for c in columns)
    conn.exec_driver_sql(
        f"DELETE FROM {qualified_name(conn, table)} AS t USING {staged} AS s WHERE {matched}"
    )


def end_current(
    conn: Connection, table: Table, columns: Sequence[str], ends: Sequence[tuple[Any, ...]]
) -> None:
    """Sets `valid_to` of the current row (`valid_to` NULL) of each key of `ends` (its
    `columns`' values, then the end position): on SQLite by the driver's executemany (a
    key costs an index lookup, in C), on PostgreSQL by one join with the keys COPYed into
    a temporary table. Most keys of a page have no current row (new person events and
    identifiers): either way that costs the database one index probe, not a round trip."""
    if not ends:
        return
    quote = conn.dialect.identifier_preparer.quote
    target = qualified_name(conn, table)
    if conn.dialect.name == "postgresql":
        types = [(c, str(table.c[c].type.compile(dialect=conn.dialect))) for c in columns]
        staged = stage_values(conn, f"ended_{table.name}", [*types, ("ends_at", "BIGINT")], ends)
        conn.exec_driver_sql(f"ANALYZE {staged}")
        matched = " AND ".join(f"t.{quote(c)} = s.{quote(c)}" for c in columns)
        conn.exec_driver_sql(
            f"UPDATE {target} AS t SET valid_to = s.ends_at FROM {staged} AS s "
            f"WHERE {matched} AND t.valid_to IS NULL"
        )
        return
    matched = " AND ".join(f"{quote(c)} = ?" for c in columns)
    statement = f"UPDATE {target} SET valid_to = ? WHERE {matched} AND valid_to IS NULL"
    _on_driver(conn, statement, [(end[-1], *end[:-1]) for end in ends], copying=False)
