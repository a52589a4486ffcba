"""Reporting's SQL views: conversion credits per model, and how far each projection has read;
and, beside them but never rebuilt, the properties' reporting settings.

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
    Column("term", String, nullable=False, server_default=""),
    Column("content", String, nullable=False, server_default=""),
    Column("device_type", String, nullable=False, server_default=""),
    Column("browser", String, nullable=False, server_default=""),
    Column("country", String, nullable=False, server_default=""),
    Column("landing_page", String, nullable=False, server_default=""),
    Column("fraction", Float, nullable=False),
    Column("value_micros", BigInteger, nullable=False),
    Column("currency_code", String, nullable=False),
    Column("revision", Integer, nullable=False),
    Index("ix_conversion_credits_property_model_time", "property_id", "model", "occurred_at"),
    Index(
        "ix_conversion_credits_property_name_model_time",
        "property_id",
        "conversion_name",
        "model",
        "occurred_at",
    ),
)
"""One row per credit of a conversion under a model: the latest attribution's credits."""

projection_positions = positions_table(metadata, "projection_positions")
"""The last upstream log position each projection has processed."""

settings_metadata = MetaData()
"""Tables that are no view: what properties chose. A rebuild of the views keeps them."""

property_settings = Table(
    "property_settings",
    settings_metadata,
    Column("property_id", String, primary_key=True),
    Column("time_zone", String, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""A property's reporting settings, one row per property that chose any."""
