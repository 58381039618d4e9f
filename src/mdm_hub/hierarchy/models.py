"""The links between customers: a site to its corporation, a corporation to its group parent."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import Base, CustomerId, Decided, SerialId, TimestampNow, one_of

# axis "site": a site (事業所) → its corporation; axis "group": a corporation → its parent.
AXES = ("site", "group")
# axis "successor": a corporation closed by a merger (吸収合併, NTA 処理区分 71) → the customer
# of its successor (承継先法人番号), set by the registry (enrichment), never by a source record
# or a steward; no roll-up or hierarchy walk follows it.
SUCCESSOR = "successor"
ALL_AXES = (*AXES, SUCCESSOR)
RELATION_TYPES = ("site", "subsidiary", "affiliate", SUCCESSOR)


class _Link:
    """What a link and a pending link (one whose parent the hub does not hold yet) both are."""

    id: Mapped[SerialId]
    child_id: Mapped[CustomerId]
    axis: Mapped[str]
    relation_type: Mapped[str]
    valid_from: Mapped[dt.date | None]
    valid_to: Mapped[dt.date | None]
    set_by: Mapped[str]
    created_at: Mapped[TimestampNow]


class CustomerRelation(_Link, Base):
    """One link, child → parent; a customer has at most one link on each axis."""

    __tablename__ = "customer_relations"

    parent_id: Mapped[CustomerId]
    updated_at: Mapped[TimestampNow]
    # The child's 取引金額 and whether it is active, copied from customers by triggers
    # (migration 0012) so that a roll-up reads links only, never the customers behind them.
    child_amount: Mapped[Decimal] = mapped_column(Numeric, server_default="0")
    child_active: Mapped[bool] = mapped_column(Boolean, server_default="true")

    __table_args__ = (
        UniqueConstraint("child_id", "axis"),
        Index(
            "ix_customer_relations_parent",
            "parent_id",
            "axis",
            postgresql_include=[
                "child_id",
                "child_active",
                "child_amount",
                "valid_from",
                "valid_to",
            ],
        ),
        one_of("axis", ALL_AXES),
        one_of("relation_type", RELATION_TYPES),
        CheckConstraint("(axis = 'site') = (relation_type = 'site')", name="type_fits_axis"),
        CheckConstraint(
            "(axis = 'successor') = (relation_type = 'successor')", name="successor_fits_axis"
        ),
        CheckConstraint("child_id <> parent_id", name="not_self"),
        CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_from <= valid_to", name="dates"
        ),
    )


class PendingLink(_Link, Base):
    """A link a source record names whose target the hub does not hold yet: resolved when a
    customer with that code, that source record or that 法人番号 (a corporation) arrives."""

    __tablename__ = "customer_relation_pending"

    # customer_code: the code; source: "system/source_id"; corporate_number: the 13 digits.
    target_kind: Mapped[str]
    target: Mapped[str]

    __table_args__ = (
        UniqueConstraint("child_id", "axis"),
        Index("ix_customer_relation_pending_target", "target_kind", "target"),
        one_of("target_kind", ("customer_code", "source", "corporate_number")),
    )


class SiteProposal(Decided, Base):
    """Matching's proposal that a customer is a site (事業所) of a corporation, for a steward."""

    __tablename__ = "hierarchy_proposals"

    id: Mapped[SerialId]
    child_id: Mapped[CustomerId]
    parent_id: Mapped[CustomerId]
    reason: Mapped[str]
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    created_at: Mapped[TimestampNow]

    __table_args__ = (
        UniqueConstraint("child_id", "parent_id"),
        Index("ix_hierarchy_proposals_status", "status", "id"),
        one_of("status", ("pending", "accepted", "rejected", "superseded")),
    )


class GroupPath(Base):
    """The group's closure table: one row per (ancestor, descendant) pair joined by a chain of
    group links whose validity intervals overlap; ``valid_from`` / ``valid_to`` are their
    intersection, ``descendant_*`` the descendant's own link's copy of its 取引金額 and status.
    Rows with ``site`` true end in a site link: the site's chain to its corporation
    (``corporation_id``, depth 1) and to each group ancestor above it (migration 0022). Kept by
    triggers on ``customer_relations`` (migrations 0017 and 0022), never written by the app."""

    __tablename__ = "customer_group_paths"

    descendant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    site: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=false())
    ancestor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    depth: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[dt.date | None]
    valid_to: Mapped[dt.date | None]
    descendant_active: Mapped[bool]
    descendant_amount: Mapped[Decimal] = mapped_column(Numeric)
    corporation_id: Mapped[uuid.UUID | None]

    __table_args__ = (
        Index(
            "ix_customer_group_paths_ancestor",
            "ancestor_id",
            "site",
            "depth",
            postgresql_include=[
                "descendant_id",
                "valid_from",
                "valid_to",
                "descendant_active",
                "descendant_amount",
                "corporation_id",
            ],
        ),
    )


class SiteTotals(Base):
    """A corporation's site links with one validity interval, summed: how many, how many to an
    active site, and those sites' 取引金額 (``valid_from`` / ``valid_to`` are -infinity /
    infinity for an open end). The group roll-up adds one such row per company instead of one
    closure row per site. Kept by a trigger on ``customer_relations`` (migration 0027), never
    written by the app."""

    __tablename__ = "customer_site_totals"

    corporation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    valid_from: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    valid_to: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    links: Mapped[int] = mapped_column(Integer)
    sites: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Numeric)


class SiteTotalDelta(Base):
    """A change of :class:`SiteTotals` not folded in yet: a writer inserts its delta here and
    folds the corporation's deltas into the totals only when no other transaction is folding
    them, so writers never wait for each other; readers add both tables (migration 0027)."""

    __tablename__ = "customer_site_total_deltas"

    id: Mapped[SerialId]
    corporation_id: Mapped[uuid.UUID]
    valid_from: Mapped[dt.date]
    valid_to: Mapped[dt.date]
    links: Mapped[int] = mapped_column(Integer)
    sites: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Numeric)

    __table_args__ = (Index("ix_customer_site_total_deltas_corporation", "corporation_id"),)
