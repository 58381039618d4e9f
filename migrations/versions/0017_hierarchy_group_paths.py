"""hierarchy: the group's closure table (customer_group_paths), kept by triggers on
customer_relations, so that the tree and the roll-ups read one index range instead of walking
the links

Revision ID: 0017
Revises: 0011
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A row per (ancestor, descendant) pair joined by a chain of group links whose validity
# intervals overlap: valid_from / valid_to are the intersection (NULL = unbounded). A customer
# has at most one group link, so the chain between two customers is unique; the service refuses
# a link that would close a cycle on any day, so every chain kept is a simple path.
_NONEMPTY = "(vf IS NULL OR vt IS NULL OR vf <= vt)"

_FUNCTIONS = [
    """
CREATE FUNCTION hierarchy_paths_drop(child uuid) RETURNS void LANGUAGE sql AS $$
    -- The chains that go up through the child's group link: for the child and each customer
    -- below it, those longer than its chain up to the child.
    DELETE FROM customer_group_paths p
    USING (SELECT child AS d, 0 AS depth
           UNION ALL
           SELECT descendant_id, depth FROM customer_group_paths WHERE ancestor_id = child) s
    WHERE p.descendant_id = s.d AND p.depth > s.depth
$$""",
    f"""
CREATE FUNCTION hierarchy_paths_add(child uuid, parent uuid, link_from date, link_to date,
                                    child_active boolean, child_amount numeric)
RETURNS void LANGUAGE sql AS $$
    -- The chains through the new link child -> parent: from the child and each customer below
    -- it, to the parent and each customer above it, where the intervals still overlap.
    INSERT INTO customer_group_paths
        (ancestor_id, descendant_id, depth, valid_from, valid_to, descendant_active,
         descendant_amount)
    SELECT u.a, s.d, s.depth + 1 + u.depth, x.vf, x.vt, s.active, s.amount
    FROM (SELECT child AS d, 0 AS depth, NULL::date AS f, NULL::date AS t,
                 child_active AS active, child_amount AS amount
          UNION ALL
          SELECT descendant_id, depth, valid_from, valid_to, descendant_active, descendant_amount
          FROM customer_group_paths WHERE ancestor_id = child) s,
         (SELECT parent AS a, 0 AS depth, NULL::date AS f, NULL::date AS t
          UNION ALL
          SELECT ancestor_id, depth, valid_from, valid_to
          FROM customer_group_paths WHERE descendant_id = parent) u,
         LATERAL (SELECT greatest(s.f, link_from, u.f) AS vf,
                         least(s.t, link_to, u.t) AS vt) x
    WHERE u.a <> s.d AND {_NONEMPTY.replace("vf", "x.vf").replace("vt", "x.vt")}
    ON CONFLICT (descendant_id, ancestor_id) DO NOTHING
$$""",
    """
CREATE FUNCTION hierarchy_paths_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.axis = 'group' THEN
        PERFORM hierarchy_paths_drop(OLD.child_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.axis = 'group' THEN
        PERFORM hierarchy_paths_add(NEW.child_id, NEW.parent_id, NEW.valid_from, NEW.valid_to,
                                    NEW.child_active, NEW.child_amount);
    END IF;
    RETURN NULL;
END $$""",
    """
CREATE FUNCTION hierarchy_paths_child() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE customer_group_paths SET descendant_active = NEW.child_active,
                                    descendant_amount = NEW.child_amount
    WHERE descendant_id = NEW.child_id;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER customer_relations_paths_insert
    AFTER INSERT ON customer_relations FOR EACH ROW WHEN (NEW.axis = 'group')
    EXECUTE FUNCTION hierarchy_paths_follow()""",
    """CREATE TRIGGER customer_relations_paths_delete
    AFTER DELETE ON customer_relations FOR EACH ROW WHEN (OLD.axis = 'group')
    EXECUTE FUNCTION hierarchy_paths_follow()""",
    """CREATE TRIGGER customer_relations_paths_update
    AFTER UPDATE OF child_id, parent_id, axis, valid_from, valid_to ON customer_relations
    FOR EACH ROW
    WHEN ((OLD.axis = 'group' OR NEW.axis = 'group')
          AND (OLD.child_id, OLD.parent_id, OLD.axis, OLD.valid_from, OLD.valid_to)
              IS DISTINCT FROM (NEW.child_id, NEW.parent_id, NEW.axis, NEW.valid_from,
                                NEW.valid_to))
    EXECUTE FUNCTION hierarchy_paths_follow()""",
    """CREATE TRIGGER customer_relations_paths_child
    AFTER UPDATE OF child_active, child_amount ON customer_relations
    FOR EACH ROW
    WHEN (NEW.axis = 'group' AND (OLD.child_active, OLD.child_amount)
          IS DISTINCT FROM (NEW.child_active, NEW.child_amount))
    EXECUTE FUNCTION hierarchy_paths_child()""",
]

# The closure of the links already stored: each customer's chain up, as long as the intervals
# overlap and no customer repeats.
_BACKFILL = f"""
INSERT INTO customer_group_paths
    (ancestor_id, descendant_id, depth, valid_from, valid_to, descendant_active,
     descendant_amount)
WITH RECURSIVE up(d, a, depth, vf, vt, active, amount, seen) AS (
    SELECT child_id, parent_id, 1, valid_from, valid_to, child_active, child_amount,
           ARRAY[child_id, parent_id]
    FROM customer_relations WHERE axis = 'group'
  UNION ALL
    SELECT up.d, r.parent_id, up.depth + 1, greatest(up.vf, r.valid_from),
           least(up.vt, r.valid_to), up.active, up.amount, up.seen || r.parent_id
    FROM up JOIN customer_relations r ON r.child_id = up.a AND r.axis = 'group'
    WHERE NOT r.parent_id = ANY(up.seen)
)
SELECT DISTINCT ON (d, a) a, d, depth, vf, vt, active, amount FROM up
WHERE {_NONEMPTY}
ORDER BY d, a, depth
"""


def upgrade() -> None:
    op.create_table(
        "customer_group_paths",
        sa.Column("ancestor_id", sa.UUID(), nullable=False),
        sa.Column("descendant_id", sa.UUID(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("descendant_active", sa.Boolean(), nullable=False),
        sa.Column("descendant_amount", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint(
            "descendant_id", "ancestor_id", name=op.f("pk_customer_group_paths")
        ),
    )
    op.create_index(
        "ix_customer_group_paths_ancestor",
        "customer_group_paths",
        ["ancestor_id", "depth"],
        postgresql_include=[
            "descendant_id",
            "valid_from",
            "valid_to",
            "descendant_active",
            "descendant_amount",
        ],
    )
    op.execute(_BACKFILL)
    for statement in _FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    for trigger in ("insert", "delete", "update", "child"):
        op.execute(f"DROP TRIGGER customer_relations_paths_{trigger} ON customer_relations")
    for function in (
        "hierarchy_paths_child()",
        "hierarchy_paths_follow()",
        "hierarchy_paths_add(uuid, uuid, date, date, boolean, numeric)",
        "hierarchy_paths_drop(uuid)",
    ):
        op.execute(f"DROP FUNCTION {function}")
    op.drop_index("ix_customer_group_paths_ancestor", table_name="customer_group_paths")
    op.drop_table("customer_group_paths")
