"""hierarchy: sites in the closure table. customer_group_paths also holds a row per site and
each of its corporation's group ancestors (and the corporation itself), flagged ``site``, with
the site's corporation, so that a roll-up over a whole group (its companies and their sites) is
one index range with no walk

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 15:20:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NONEMPTY = "(vf IS NULL OR vt IS NULL OR vf <= vt)"
_INCLUDE = [
    "descendant_id",
    "valid_from",
    "valid_to",
    "descendant_active",
    "descendant_amount",
    "corporation_id",
]

# A site's rows: its link to its corporation (depth 1), then one per group ancestor of the
# corporation, with the intersection of the validity intervals. A site link carries nothing
# below the site: the site's own group members (a customer that had some before it became a
# site) are not its corporation's.
_FUNCTIONS = [
    """
CREATE FUNCTION hierarchy_paths_drop(link_child uuid, link_site boolean) RETURNS void
LANGUAGE sql AS $$
    -- The chains that go up through the child's link: for the child (and, for a group link,
    -- each customer and site below it), those longer than its chain up to the child.
    DELETE FROM customer_group_paths p
    USING (SELECT link_child AS d, link_site AS site, 0 AS depth
           UNION ALL
           SELECT descendant_id, site, depth FROM customer_group_paths
           WHERE ancestor_id = link_child AND NOT link_site) s
    WHERE p.descendant_id = s.d AND p.site = s.site AND p.depth > s.depth
$$""",
    f"""
CREATE FUNCTION hierarchy_paths_add(link_child uuid, link_parent uuid, link_from date,
                                    link_to date, child_active boolean, child_amount numeric,
                                    link_site boolean)
RETURNS void LANGUAGE sql AS $$
    -- The chains through the new link child -> parent: from the child (and, for a group link,
    -- each customer and site below it), to the parent and each group ancestor above it, where
    -- the intervals still overlap.
    INSERT INTO customer_group_paths
        (ancestor_id, descendant_id, site, depth, valid_from, valid_to, descendant_active,
         descendant_amount, corporation_id)
    SELECT u.a, s.d, s.site, s.depth + 1 + u.depth, x.vf, x.vt, s.active, s.amount, s.corp
    FROM (SELECT link_child AS d, link_site AS site, 0 AS depth, NULL::date AS f,
                 NULL::date AS t, child_active AS active, child_amount AS amount,
                 CASE WHEN link_site THEN link_parent END AS corp
          UNION ALL
          SELECT descendant_id, site, depth, valid_from, valid_to, descendant_active,
                 descendant_amount, corporation_id
          FROM customer_group_paths WHERE ancestor_id = link_child AND NOT link_site) s,
         (SELECT link_parent AS a, 0 AS depth, NULL::date AS f, NULL::date AS t
          UNION ALL
          SELECT ancestor_id, depth, valid_from, valid_to
          FROM customer_group_paths WHERE descendant_id = link_parent AND NOT site) u,
         LATERAL (SELECT greatest(s.f, link_from, u.f) AS vf,
                         least(s.t, link_to, u.t) AS vt) x
    WHERE (s.site OR u.a <> s.d)
      AND {_NONEMPTY.replace("vf", "x.vf").replace("vt", "x.vt")}
    ON CONFLICT (descendant_id, site, ancestor_id) DO NOTHING
$$""",
    """
CREATE FUNCTION hierarchy_paths_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.axis IN ('group', 'site') THEN
        PERFORM hierarchy_paths_drop(OLD.child_id, OLD.axis = 'site');
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.axis IN ('group', 'site') THEN
        PERFORM hierarchy_paths_add(NEW.child_id, NEW.parent_id, NEW.valid_from, NEW.valid_to,
                                    NEW.child_active, NEW.child_amount, NEW.axis = 'site');
    END IF;
    RETURN NULL;
END $$""",
    """
CREATE FUNCTION hierarchy_paths_child() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE customer_group_paths SET descendant_active = NEW.child_active,
                                    descendant_amount = NEW.child_amount
    WHERE descendant_id = NEW.child_id AND site = (NEW.axis = 'site');
    RETURN NULL;
END $$""",
    """CREATE TRIGGER customer_relations_paths_insert
    AFTER INSERT ON customer_relations FOR EACH ROW WHEN (NEW.axis IN ('group', 'site'))
    EXECUTE FUNCTION hierarchy_paths_follow()""",
    """CREATE TRIGGER customer_relations_paths_delete
    AFTER DELETE ON customer_relations FOR EACH ROW WHEN (OLD.axis IN ('group', 'site'))
    EXECUTE FUNCTION hierarchy_paths_follow()""",
    """CREATE TRIGGER customer_relations_paths_update
    AFTER UPDATE OF child_id, parent_id, axis, valid_from, valid_to ON customer_relations
    FOR EACH ROW
    WHEN ((OLD.axis IN ('group', 'site') OR NEW.axis IN ('group', 'site'))
          AND (OLD.child_id, OLD.parent_id, OLD.axis, OLD.valid_from, OLD.valid_to)
              IS DISTINCT FROM (NEW.child_id, NEW.parent_id, NEW.axis, NEW.valid_from,
                                NEW.valid_to))
    EXECUTE FUNCTION hierarchy_paths_follow()""",
    """CREATE TRIGGER customer_relations_paths_child
    AFTER UPDATE OF child_active, child_amount ON customer_relations
    FOR EACH ROW
    WHEN (NEW.axis IN ('group', 'site') AND (OLD.child_active, OLD.child_amount)
          IS DISTINCT FROM (NEW.child_active, NEW.child_amount))
    EXECUTE FUNCTION hierarchy_paths_child()""",
]

_BACKFILL = f"""
INSERT INTO customer_group_paths
    (ancestor_id, descendant_id, site, depth, valid_from, valid_to, descendant_active,
     descendant_amount, corporation_id)
SELECT a, d, true, depth, vf, vt, active, amount, corp FROM (
    SELECT r.parent_id AS a, r.child_id AS d, 1 AS depth, r.valid_from AS vf,
           r.valid_to AS vt, r.child_active AS active, r.child_amount AS amount,
           r.parent_id AS corp
    FROM customer_relations r WHERE r.axis = 'site'
  UNION ALL
    SELECT p.ancestor_id, r.child_id, p.depth + 1, greatest(r.valid_from, p.valid_from),
           least(r.valid_to, p.valid_to), r.child_active, r.child_amount, r.parent_id
    FROM customer_relations r
    JOIN customer_group_paths p ON p.descendant_id = r.parent_id AND NOT p.site
    WHERE r.axis = 'site'
) s
WHERE {_NONEMPTY}
"""

_TRIGGERS = ("insert", "delete", "update", "child")


def _drop_functions(signatures: Sequence[str]) -> None:
    for trigger in _TRIGGERS:
        op.execute(f"DROP TRIGGER customer_relations_paths_{trigger} ON customer_relations")
    for function in ("hierarchy_paths_child()", "hierarchy_paths_follow()", *signatures):
        op.execute(f"DROP FUNCTION {function}")


def _revision_0017() -> ModuleType:
    """Migration 0017, whose functions the downgrade puts back."""
    path = Path(__file__).with_name("0017_hierarchy_group_paths.py")
    spec = importlib.util.spec_from_file_location("mdm_hub_migration_0017", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    _drop_functions(
        [
            "hierarchy_paths_add(uuid, uuid, date, date, boolean, numeric)",
            "hierarchy_paths_drop(uuid)",
        ]
    )
    op.add_column(
        "customer_group_paths",
        sa.Column("site", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("customer_group_paths", sa.Column("corporation_id", sa.UUID(), nullable=True))
    op.drop_constraint("pk_customer_group_paths", "customer_group_paths", type_="primary")
    op.create_primary_key(
        "pk_customer_group_paths", "customer_group_paths", ["descendant_id", "site", "ancestor_id"]
    )
    op.drop_index("ix_customer_group_paths_ancestor", table_name="customer_group_paths")
    op.create_index(
        "ix_customer_group_paths_ancestor",
        "customer_group_paths",
        ["ancestor_id", "site", "depth"],
        postgresql_include=_INCLUDE,
    )
    op.execute(_BACKFILL)
    for statement in _FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    _drop_functions(
        [
            "hierarchy_paths_add(uuid, uuid, date, date, boolean, numeric, boolean)",
            "hierarchy_paths_drop(uuid, boolean)",
        ]
    )
    op.execute("DELETE FROM customer_group_paths WHERE site")
    op.drop_index("ix_customer_group_paths_ancestor", table_name="customer_group_paths")
    op.drop_constraint("pk_customer_group_paths", "customer_group_paths", type_="primary")
    op.create_primary_key(
        "pk_customer_group_paths", "customer_group_paths", ["descendant_id", "ancestor_id"]
    )
    op.drop_column("customer_group_paths", "corporation_id")
    op.drop_column("customer_group_paths", "site")
    op.create_index(
        "ix_customer_group_paths_ancestor",
        "customer_group_paths",
        ["ancestor_id", "depth"],
        postgresql_include=_INCLUDE[:-1],
    )
    for statement in _revision_0017()._FUNCTIONS:
        op.execute(statement)
