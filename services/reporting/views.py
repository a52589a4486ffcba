"""Reporting's SQL views: conversion credits per model, and how far each projection has read.

The property id leads every report key, so that properties can later be partitioned
across databases.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
)

SQLITE_BUSY_TIMEOUT_MS = 30_000

metadata = MetaData()

conversion_credits = Table(
    "conversion_credits",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_id", String, primary_key=True),
    Column("model", String, primary_key=True),
    Column("credit_index", Integer, primary_key=True),
    Column("conversion_name", String, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("channel", String, nullable=False),
    Column("source", String, nullable=False),
    Column("medium", String, nullable=False),
    Column("campaign", String, nullable=False),
    Column("fraction", Float, nullable=False),
    Column("value_micros", BigInteger, nullable=False),
    Column("currency_code", String, nullable=False),
    Column("revision", Integer, nullable=False),
    Index("ix_conversion_credits_property_model_time", "property_id", "model", "occurred_at"),
)
"""One row per credit of a conversion under a model: the latest attribution's credits."""

projection_positions = Table(
    "projection_positions",
    metadata,
    Column("projection", String, primary_key=True),
    Column("upstream", String, primary_key=True),
    Column("position", BigInteger, nullable=False),
)
"""The last upstream log position each projection has processed."""


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, begin transactions, so reads are transactional too.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def create_report_engine(url: str, schema: str = "") -> Engine:
    """An engine for the report views at an SQLAlchemy URL.

    On SQLite: WAL and a busy timeout, since gRPC threads read while the follower writes.
    On PostgreSQL: the views live in `schema` (which must exist) when one is given.
    """
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if schema:
        return engine.execution_options(schema_translate_map={None: schema})
    return engine
