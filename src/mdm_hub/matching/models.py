"""Tables of matching: the blocking index, the review queue, distinct pairs and merge history."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args

from sqlalchemy import BigInteger, CheckConstraint, Float, ForeignKey, Index, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import Base, CustomerId, Decided, SerialId, TimestampNow, one_of, partial_index

CandidateStatus = Literal["pending", "merged", "distinct", "superseded"]
CANDIDATE_STATUSES: tuple[CandidateStatus, ...] = get_args(CandidateStatus)


class MatchKey(Base):
    """The blocking index: (kind, value) → source record (and its customer, kept in step)."""

    __tablename__ = "match_keys"

    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)
    source_record_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("source_records.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[CustomerId]

    __table_args__ = (
        Index("ix_match_keys_source_record_id", "source_record_id"),
        Index("ix_match_keys_customer_id", "customer_id"),
    )


class MatchCandidate(Decided, Base):
    """A pair of customers the hub was not sure about, waiting for a steward."""

    __tablename__ = "match_candidates"

    id: Mapped[SerialId]
    customer_a_id: Mapped[CustomerId]
    customer_b_id: Mapped[CustomerId]
    probability: Mapped[float] = mapped_column(Float)
    match_weight: Mapped[float] = mapped_column(Float)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    reason: Mapped[str]
    status: Mapped[CandidateStatus] = mapped_column(Text, default="pending")
    created_at: Mapped[TimestampNow]

    __table_args__ = (
        one_of("status", CANDIDATE_STATUSES),
        CheckConstraint("customer_a_id < customer_b_id", name="ordered_pair"),
        partial_index(
            "uq_match_candidates_pending_pair",
            "customer_a_id",
            "customer_b_id",
            where="status = 'pending'",
            unique=True,
        ),
        Index("ix_match_candidates_status_probability", "status", "probability", "id"),
    )


class DistinctPair(Base):
    """A steward said these two customers are different: never propose or merge them again."""

    __tablename__ = "distinct_pairs"

    customer_a_id: Mapped[CustomerId] = mapped_column(primary_key=True)
    customer_b_id: Mapped[CustomerId] = mapped_column(primary_key=True)
    decided_at: Mapped[TimestampNow]
    decided_by: Mapped[str]

    __table_args__ = (CheckConstraint("customer_a_id < customer_b_id", name="ordered_pair"),)


class MergeLog(Base):
    """One customer merged into another, with the source records it brought: for exact undo."""

    __tablename__ = "merge_log"

    id: Mapped[SerialId]
    survivor_id: Mapped[CustomerId]
    absorbed_id: Mapped[CustomerId]
    source_record_ids: Mapped[list[int]] = mapped_column(JSONB)
    merged_at: Mapped[TimestampNow]
    merged_by: Mapped[str]
    undone_at: Mapped[dt.datetime | None]
    # The hierarchy links the merge changed, as they were before it (for the unmerge).
    moved_links: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")

    __table_args__ = (Index("ix_merge_log_survivor_id", "survivor_id"),)
