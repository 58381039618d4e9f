"""Quality tables: rule policies, the findings of each source record, the daily KPI history."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import Base, SerialId, TimestampNow, one_of, partial_index


class QualityRulePolicy(Base):
    """An administrator's policy for one rule; a rule without a row keeps its default."""

    __tablename__ = "quality_rule_policies"

    rule: Mapped[str] = mapped_column(Text, primary_key=True)
    policy: Mapped[str]
    updated_at: Mapped[TimestampNow]

    __table_args__ = (one_of("policy", ("reject", "flag", "ignore")),)


class QualityFinding(Base):
    """One finding of one source record's current version (replaced when the record changes).

    The customer is read through the source record, so merges and unmerges need no update here.
    """

    __tablename__ = "quality_findings"

    id: Mapped[SerialId]
    source_record_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("source_records.id", ondelete="CASCADE")
    )
    system: Mapped[str]
    rule: Mapped[str]
    field: Mapped[str]
    message: Mapped[str]
    value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[TimestampNow]

    __table_args__ = (
        Index("ix_quality_findings_source_record_id", "source_record_id"),
        Index("ix_quality_findings_rule_id", "rule", "id"),
        Index("ix_quality_findings_system_id", "system", "id"),
    )


class QualityKpiSnapshot(Base):
    """The KPIs as computed on one day (the last computation of the day wins)."""

    __tablename__ = "quality_kpi_snapshots"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    computed_at: Mapped[dt.datetime]
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB)


class QualityCount(Base):
    """Counts kept by triggers (migration 0008), so that the KPIs never scan the master.

    ``scope``: ``all``, ``kind:<kind>``, ``system:<system>`` or, per day (Japan time) and
    source system, ``daily:<YYYY-MM-DD>:<system>``. ``metric``: for example ``status:active``,
    ``filled:phone``, ``source_records``, ``finding:<rule>``, ``writes``, ``merged``. A count is
    its row here plus the rows in ``quality_count_deltas`` the worker has not folded in yet.
    """

    __tablename__ = "quality_counts"

    scope: Mapped[str] = mapped_column(Text, primary_key=True)
    metric: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[int]


class QualityCountDelta(Base):
    """What one statement changed in the counts: inserted only, so writers never wait for each
    other (no row is updated on the write path); folded into ``quality_counts`` by the worker."""

    __tablename__ = "quality_count_deltas"

    id: Mapped[SerialId]
    scope: Mapped[str]
    metric: Mapped[str]
    value: Mapped[int]

    __table_args__ = (Index("ix_quality_count_deltas_scope_metric", "scope", "metric"),)


class QualityRegistryState(Base):
    """A customer's 法人番号 coverage as last counted (migration 0016's triggers keep it from
    customers, registry_links and registry_proposals): ``state`` is ``confirmed``,
    ``withdrawn``, ``suggested`` or ``unknown``; ``closed``, its link records a closure."""

    __tablename__ = "quality_registry_states"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str]
    active: Mapped[bool]
    state: Mapped[str]
    closed: Mapped[bool]
    # The T-number's インボイス status (migration 0021): NULL without one, else registered,
    # not_registered, expired, revoked or deleted.
    invoice: Mapped[str | None]

    __table_args__ = (
        partial_index(
            "ix_quality_registry_states_active_state", "state", "customer_id", where="active"
        ),
        partial_index(
            "ix_quality_registry_states_active_invoice",
            "invoice",
            "customer_id",
            where="active AND invoice IS NOT NULL",
        ),
    )


class QualityRegistrySourceState(Base):
    """A source record's system with its customer's coverage, as last counted (the registry
    KPIs per source system; migration 0016)."""

    __tablename__ = "quality_registry_source_states"

    source_record_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    system: Mapped[str]
    kind: Mapped[str]
    active: Mapped[bool]
    state: Mapped[str]
    closed: Mapped[bool]
    invoice: Mapped[str | None]
