"""Import jobs: the uploaded file, its rows and their partitions, and mappings per system."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, Text, false
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import Base, TimestampNow


class ImportJob(Base):
    __tablename__ = "import_jobs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    system: Mapped[str]
    filename: Mapped[str]
    # queued → staging → running → done | failed | cancelled
    status: Mapped[str]
    dry_run: Mapped[bool]
    options: Mapped[dict[str, Any]] = mapped_column(JSONB)  # encoding, sheet, kind, mapping
    file_sha256: Mapped[str]
    file_bytes: Mapped[int] = mapped_column(Integer)
    detected: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    rows_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Staged in chunks of rows, in file order (0029): the file's line of the last row staged,
    # and whether the whole file is.
    staged_line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    staged_all: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    rows_done: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict[str, int]] = mapped_column(JSONB)
    leased_until: Mapped[dt.datetime | None]
    created_by: Mapped[str]
    created_at: Mapped[TimestampNow]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]

    __table_args__ = (Index("ix_import_jobs_status", "status"),)


# The job a chunk, row or partition belongs to: the first part of their primary keys.
JobKey = Annotated[
    uuid.UUID, mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True)
]


class ImportFileChunk(Base):
    """The uploaded file in 1 MiB pieces (streamed in and out: never whole in memory)."""

    __tablename__ = "import_file_chunks"

    job_id: Mapped[JobKey]
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ImportRow(Base):
    __tablename__ = "import_rows"

    job_id: Mapped[JobKey]
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    partition: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source_id: Mapped[str | None]
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    status: Mapped[str]  # pending | done
    outcome: Mapped[str | None]
    customer_code: Mapped[str | None]
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # What staging prepared (sources.prepare.Prepared.to_json): reused by the write when the
    # configuration's fingerprint is unchanged, so that a row is normalized once (0015).
    prepared: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)

    __table_args__ = (Index("ix_import_rows_job_id_partition", "job_id", "partition", "line"),)


class ImportPartition(Base):
    """Rows that share no blocking key with any other partition's: a worker's unit of work."""

    __tablename__ = "import_partitions"

    job_id: Mapped[JobKey]
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)
    status: Mapped[str]  # pending | done
    worker: Mapped[str | None]
    leased_until: Mapped[dt.datetime | None]


class ImportMapping(Base):
    """The mapping file last used for a source system (used again when none is given)."""

    __tablename__ = "import_mappings"

    system: Mapped[str] = mapped_column(Text, primary_key=True)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[TimestampNow]
