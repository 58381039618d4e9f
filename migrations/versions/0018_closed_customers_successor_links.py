"""registry: customers closed by the NTA registry (status closed), successor links (承継先),
and the registry by prefecture and city (proposals for customers without a postal code)

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-06 12:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = "'active', 'merged', 'deleted', 'erased'"


def _checks(statuses: str, axes: str, types: str) -> None:
    for table, name in (
        ("customers", "ck_customers_status"),
        ("customer_relations", "ck_customer_relations_axis"),
        ("customer_relations", "ck_customer_relations_relation_type"),
    ):
        op.drop_constraint(op.f(name), table, type_="check")
    op.create_check_constraint(op.f("ck_customers_status"), "customers", f"status IN ({statuses})")
    op.create_check_constraint(
        op.f("ck_customer_relations_axis"), "customer_relations", f"axis IN ({axes})"
    )
    op.create_check_constraint(
        op.f("ck_customer_relations_relation_type"),
        "customer_relations",
        f"relation_type IN ({types})",
    )


def upgrade() -> None:
    _checks(
        f"{_STATUSES}, 'closed'",
        "'site', 'group', 'successor'",
        "'site', 'subsidiary', 'affiliate', 'successor'",
    )
    op.create_check_constraint(
        op.f("ck_customer_relations_successor_fits_axis"),
        "customer_relations",
        "(axis = 'successor') = (relation_type = 'successor')",
    )
    op.create_index(
        op.f("ix_nta_corporations_place"),
        "nta_corporations",
        ["prefecture_name", "city_name"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_nta_corporations_place"), table_name="nta_corporations")
    op.execute("DELETE FROM customer_relations WHERE axis = 'successor'")
    op.execute("UPDATE customers SET status = 'active' WHERE status = 'closed'")
    op.drop_constraint(
        op.f("ck_customer_relations_successor_fits_axis"), "customer_relations", type_="check"
    )
    _checks(_STATUSES, "'site', 'group'", "'site', 'subsidiary', 'affiliate'")
