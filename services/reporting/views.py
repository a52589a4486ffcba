"""Reporting's SQL views: conversion credits per model, and how far each projection has read.

The property id leads every report key, so that properties can later be partitioned
across databases.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from common.sql_positions import positions_table

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

unconsented_conversions = Table(
    "unconsented_conversions",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_id", String, primary_key=True),
    Column("conversion_name", String, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
)
"""One row per conversion counted without analytics consent (a table of its own, so that
views created before consent existed gain it without a migration)."""

projection_positions = positions_table(metadata, "projection_positions")
"""The last upstream log position each projection has processed."""
