"""field encryption: a key rotation may re-encrypt audit entries' before/after

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 09:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLEARED = """
            IF TG_OP = 'UPDATE' AND NEW.before IS NULL AND NEW.after IS NULL
               AND to_jsonb(NEW) - 'before' - 'after' = to_jsonb(OLD) - 'before' - 'after' THEN
                RETURN NEW;
            END IF;"""


def upgrade() -> None:
    # The audit log stays append-only; besides an erasure's clearing, `mdm-hub keys rotate`
    # (which sets mdm_hub.reencrypting in its own transaction) may write the same before/after
    # under a new data key, and change nothing else.
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN{_CLEARED}
            IF TG_OP = 'UPDATE' AND current_setting('mdm_hub.reencrypting', true) = 'on'
               AND to_jsonb(NEW) - 'before' - 'after' = to_jsonb(OLD) - 'before' - 'after' THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'audit_log is append-only';
        END $$
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN{_CLEARED}
            RAISE EXCEPTION 'audit_log is append-only';
        END $$
        """
    )
