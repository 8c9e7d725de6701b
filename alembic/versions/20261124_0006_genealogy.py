"""Genealogy: tree storage for upline, downline and subtree queries.

``distributors.sponsor_id`` and ``placement_id`` stay the truth. ``genealogy_nodes`` indexes both
trees (tree 1 = sponsor, tree 2 = placement) for fast queries: the parent, the depth and the
node's two tokens in the tree's Euler tour, numbered with an order-maintenance list labelling
(``pre`` and ``post``; X is below P iff ``P.pre < X.pre < P.post``). A trigger on
``distributors`` keeps the nodes in step with every insert and every change of sponsor or
placement, whoever makes it; the labelling functions serialise per tree with a transaction
advisory lock. See ``mlmcrm/services/network/genealogy_store.py`` for the algorithm.

Also: the holding tank (enrolees waiting to be placed), the sponsor-tree compressions of
terminated distributors (so reinstatement can undo them) and a trigram index on names (when the
server has ``pg_trgm``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 05:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNTIME_ROLES = "mlmcrm_app, mlmcrm_batch"

FUNCTIONS = r"""
CREATE FUNCTION genealogy_predecessor(p_tree smallint, p_label bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT GREATEST(
        0,
        (SELECT max(pre) FROM genealogy_nodes WHERE tree = p_tree AND pre < p_label),
        (SELECT max(post) FROM genealogy_nodes WHERE tree = p_tree AND post < p_label))
$$;

CREATE FUNCTION genealogy_token_count(p_tree smallint, p_lo bigint, p_hi bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_lo > p_hi THEN 0 ELSE
        (SELECT count(*) FROM genealogy_nodes WHERE tree = p_tree AND pre BETWEEN p_lo AND p_hi)
      + (SELECT count(*) FROM genealogy_nodes WHERE tree = p_tree AND post BETWEEN p_lo AND p_hi)
    END
$$;

-- Give fresh, evenly spaced labels to every token strictly between p_lo and p_hi, and to the
-- tokens of the moving subtree [p_mpre, p_mpost] (an empty range when p_mpre > p_mpost), which
-- are put, in their order, just before the token labelled p_before; the moving nodes' depths
-- shift by p_delta.
CREATE FUNCTION genealogy_relabel(
    p_tree smallint, p_lo bigint, p_hi bigint, p_mpre bigint, p_mpost bigint,
    p_before bigint, p_delta integer
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_count bigint;
    v_step bigint;
BEGIN
    v_count := genealogy_token_count(p_tree, p_lo + 1, p_hi - 1)
        - genealogy_token_count(p_tree, GREATEST(p_lo + 1, p_mpre), LEAST(p_hi - 1, p_mpost))
        + genealogy_token_count(p_tree, p_mpre, p_mpost);
    IF v_count = 0 THEN
        RETURN;
    END IF;
    v_step := (p_hi - p_lo) / (v_count + 1);
    IF v_step < 1 THEN
        RAISE EXCEPTION 'genealogy: no room for % labels between % and %', v_count, p_lo, p_hi;
    END IF;
    WITH tok AS (
        SELECT distributor_id AS id, pre AS lab, 0 AS kind, pre BETWEEN p_mpre AND p_mpost AS mv
        FROM genealogy_nodes
        WHERE tree = p_tree AND (pre > p_lo AND pre < p_hi OR pre BETWEEN p_mpre AND p_mpost)
        UNION ALL
        SELECT distributor_id, post, 1, post BETWEEN p_mpre AND p_mpost
        FROM genealogy_nodes
        WHERE tree = p_tree AND (post > p_lo AND post < p_hi OR post BETWEEN p_mpre AND p_mpost)
    ), ranked AS (
        SELECT id, kind, mv, p_lo + row_number() OVER (
            ORDER BY CASE WHEN mv THEN p_before ELSE lab END, mv DESC, lab) * v_step AS label
        FROM tok
    ), nodes AS (
        SELECT id, bool_or(mv) AS mv,
               max(label) FILTER (WHERE kind = 0) AS new_pre,
               max(label) FILTER (WHERE kind = 1) AS new_post
        FROM ranked GROUP BY id
    )
    UPDATE genealogy_nodes g
    SET pre = COALESCE(nodes.new_pre, g.pre),
        post = COALESCE(nodes.new_post, g.post),
        depth = g.depth + CASE WHEN nodes.mv THEN p_delta ELSE 0 END
    FROM nodes
    WHERE g.tree = p_tree AND g.distributor_id = nodes.id;
END
$$;

-- Make room for p_tokens tokens just before the token labelled p_before (excluding the moving
-- range [p_mpre, p_mpost]): the smallest aligned window of 2^i labels around the insertion point
-- whose tokens fit with a spacing of at least 2^(i/2) is relabelled evenly. With a moving range,
-- the moving tokens are placed at the same time.
CREATE FUNCTION genealogy_make_room(
    p_tree smallint, p_before bigint, p_tokens bigint, p_mpre bigint, p_mpost bigint,
    p_delta integer
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_i integer;
    v_width bigint;
    v_lo bigint;
    v_hi bigint;
    v_need bigint;
BEGIN
    v_i := GREATEST(2, 2 * ceil(log(2, (p_tokens + 2)::numeric))::integer);
    WHILE v_i <= 62 LOOP
        v_width := (2::numeric ^ v_i)::bigint;
        v_lo := ((p_before - 1) / v_width) * v_width;
        v_hi := v_lo + v_width - 1;
        v_need := genealogy_token_count(p_tree, v_lo, v_hi)
            - genealogy_token_count(p_tree, GREATEST(v_lo, p_mpre), LEAST(v_hi, p_mpost))
            + p_tokens;
        IF (v_need + 1) * (2::numeric ^ (v_i / 2)) <= v_width::numeric THEN
            PERFORM genealogy_relabel(
                p_tree, v_lo - 1, v_hi + 1, p_mpre, p_mpost, p_before, p_delta);
            RETURN;
        END IF;
        v_i := v_i + 1;
    END LOOP;
    RAISE EXCEPTION 'genealogy: the label space of tree % is full', p_tree;
END
$$;

-- Put distributor p_id under p_parent (NULL: a root) in slot p_slot (the placement position; NULL
-- in the sponsor tree) of tree p_tree: a new leaf when it has no node yet, else its whole subtree
-- moves. Children are kept in slot order in the tour (then in arrival order), so a binary node's
-- left child comes first. Refuses a move below the node's own subtree.
CREATE FUNCTION genealogy_place(p_tree smallint, p_id bigint, p_parent bigint, p_slot smallint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c_universe CONSTANT bigint := 4611686018427387904;
    v_ppre bigint := 0;
    v_ppost bigint := c_universe;
    v_pdepth integer := -1;
    v_node genealogy_nodes%ROWTYPE;
    v_at bigint;
    v_before bigint;
    v_step bigint;
    v_size bigint;
    v_gap bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7104357, p_tree);
    IF p_parent IS NOT NULL THEN
        SELECT pre, post, depth INTO v_ppre, v_ppost, v_pdepth
        FROM genealogy_nodes WHERE tree = p_tree AND distributor_id = p_parent;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'genealogy: distributor % is not in tree %', p_parent, p_tree
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    SELECT * INTO v_node FROM genealogy_nodes WHERE tree = p_tree AND distributor_id = p_id;
    IF FOUND THEN
        IF v_node.parent_id IS NOT DISTINCT FROM p_parent
           AND v_node.slot IS NOT DISTINCT FROM p_slot THEN
            RETURN;
        END IF;
        IF p_parent IS NOT NULL AND v_ppre >= v_node.pre AND v_ppre <= v_node.post THEN
            RAISE EXCEPTION 'genealogy: distributor % cannot move below its own downline', p_id
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    -- The token the node goes before: its next sibling by slot, else the parent's close token.
    v_at := v_ppost;
    IF p_parent IS NOT NULL AND p_slot IS NOT NULL THEN
        SELECT COALESCE(min(pre), v_ppost) INTO v_at FROM genealogy_nodes
        WHERE tree = p_tree AND depth = v_pdepth + 1 AND pre > v_ppre AND pre < v_ppost
          AND slot > p_slot AND distributor_id <> p_id;
    END IF;
    IF v_node.distributor_id IS NULL THEN
        v_before := genealogy_predecessor(p_tree, v_at);
        IF v_at - v_before < 3 THEN
            PERFORM genealogy_make_room(p_tree, v_at, 2, 1, 0, 0);
            IF p_parent IS NOT NULL THEN
                SELECT pre, post INTO v_ppre, v_ppost FROM genealogy_nodes
                WHERE tree = p_tree AND distributor_id = p_parent;
                v_at := v_ppost;
            END IF;
            IF p_parent IS NOT NULL AND p_slot IS NOT NULL THEN
                SELECT COALESCE(min(pre), v_ppost) INTO v_at FROM genealogy_nodes
                WHERE tree = p_tree AND depth = v_pdepth + 1 AND pre > v_ppre AND pre < v_ppost
                  AND slot > p_slot;
            END IF;
            v_before := genealogy_predecessor(p_tree, v_at);
        END IF;
        v_step := (v_at - v_before) / 3;
        INSERT INTO genealogy_nodes (tree, distributor_id, parent_id, depth, slot, pre, post,
                                     active, rank_id, joined_at)
        SELECT p_tree, p_id, p_parent, v_pdepth + 1, p_slot,
               v_before + v_step, v_before + 2 * v_step,
               d.status = 'active', d.rank_id, d.joined_at
        FROM distributors d WHERE d.id = p_id;
        RETURN;
    END IF;
    UPDATE genealogy_nodes SET parent_id = p_parent, slot = p_slot
    WHERE tree = p_tree AND distributor_id = p_id;
    v_before := genealogy_predecessor(p_tree, v_at);
    IF v_before BETWEEN v_node.pre AND v_node.post THEN
        RETURN;  -- already just before its new place (a change of slot under the same parent)
    END IF;
    v_size := genealogy_token_count(p_tree, v_node.pre, v_node.post);
    IF (v_at - v_before) / (v_size + 1) >= 1024 THEN
        -- The gap is roomy: map the subtree's labels into it by one order-preserving affine
        -- map when its closest two tokens stay apart (one range UPDATE, no join); else rank.
        SELECT min(lab - prev) INTO v_gap FROM (
            SELECT lab, lag(lab) OVER (ORDER BY lab) AS prev FROM (
                SELECT pre AS lab FROM genealogy_nodes
                WHERE tree = p_tree AND pre BETWEEN v_node.pre AND v_node.post
                UNION ALL
                SELECT post FROM genealogy_nodes
                WHERE tree = p_tree AND post BETWEEN v_node.pre AND v_node.post) tokens) gaps;
        IF v_gap::numeric * (v_at - v_before - 2) >= (v_node.post - v_node.pre)::numeric THEN
            UPDATE genealogy_nodes
            SET pre = v_before + 1 + floor((pre - v_node.pre)::numeric * (v_at - v_before - 2)
                                           / (v_node.post - v_node.pre))::bigint,
                post = v_before + 1 + floor((post - v_node.pre)::numeric * (v_at - v_before - 2)
                                            / (v_node.post - v_node.pre))::bigint,
                depth = depth + (v_pdepth + 1 - v_node.depth)
            WHERE tree = p_tree AND pre BETWEEN v_node.pre AND v_node.post;
        ELSE
            PERFORM genealogy_relabel(p_tree, v_before, v_at, v_node.pre, v_node.post, v_at,
                                      v_pdepth + 1 - v_node.depth);
        END IF;
    ELSE
        PERFORM genealogy_make_room(p_tree, v_at, v_size, v_node.pre, v_node.post,
                                    v_pdepth + 1 - v_node.depth);
    END IF;
END
$$;

-- Take a leaf out of tree p_tree (a placement that is undone, back to the holding tank).
CREATE FUNCTION genealogy_remove(p_tree smallint, p_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7104357, p_tree);
    IF EXISTS (SELECT 1 FROM genealogy_nodes n, genealogy_nodes c
               WHERE n.tree = p_tree AND n.distributor_id = p_id AND c.tree = p_tree
                 AND c.pre > n.pre AND c.pre < n.post) THEN
        RAISE EXCEPTION 'genealogy: distributor % has a downline in tree %', p_id, p_tree
            USING ERRCODE = 'check_violation';
    END IF;
    DELETE FROM genealogy_nodes WHERE tree = p_tree AND distributor_id = p_id;
END
$$;

CREATE FUNCTION genealogy_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM genealogy_place(1::smallint, NEW.id, NEW.sponsor_id, NULL);
        IF NEW.placement_id IS NOT NULL OR NEW.sponsor_id IS NULL THEN
            PERFORM genealogy_place(2::smallint, NEW.id, NEW.placement_id, NEW.position);
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.sponsor_id IS DISTINCT FROM OLD.sponsor_id THEN
        PERFORM genealogy_place(1::smallint, NEW.id, NEW.sponsor_id, NULL);
    END IF;
    IF NEW.placement_id IS DISTINCT FROM OLD.placement_id
       OR NEW.position IS DISTINCT FROM OLD.position THEN
        IF NEW.placement_id IS NULL AND NEW.sponsor_id IS NOT NULL THEN
            PERFORM genealogy_remove(2::smallint, NEW.id);
        ELSE
            PERFORM genealogy_place(2::smallint, NEW.id, NEW.placement_id, NEW.position);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- The filter columns the downline pages read without a join.
CREATE FUNCTION genealogy_sync_filters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE genealogy_nodes
    SET active = NEW.status = 'active', rank_id = NEW.rank_id, joined_at = NEW.joined_at
    WHERE distributor_id = NEW.id AND tree IN (1, 2);
    RETURN NULL;
END
$$;

CREATE TRIGGER genealogy_sync_filters AFTER UPDATE OF status, rank_id, joined_at
ON distributors FOR EACH ROW
WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.rank_id IS DISTINCT FROM NEW.rank_id
      OR OLD.joined_at IS DISTINCT FROM NEW.joined_at)
EXECUTE FUNCTION genealogy_sync_filters();

CREATE TRIGGER genealogy_sync AFTER INSERT OR UPDATE OF sponsor_id, placement_id, position
ON distributors FOR EACH ROW EXECUTE FUNCTION genealogy_sync();
"""


def upgrade() -> None:
    """Apply the revision."""
    op.create_table(
        "genealogy_nodes",
        sa.Column("tree", sa.SmallInteger(), nullable=False),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("rank_id", sa.SmallInteger(), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pre", sa.BigInteger(), nullable=False),
        sa.Column("post", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("tree IN (1, 2)", name=op.f("ck_genealogy_nodes_tree")),
        sa.CheckConstraint("pre < post", name=op.f("ck_genealogy_nodes_pre_before_post")),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_genealogy_nodes_distributor_id_distributors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tree", "distributor_id", name=op.f("pk_genealogy_nodes")),
    )
    op.create_index(
        "ix_genealogy_nodes_tree_depth_pre",
        "genealogy_nodes",
        ["tree", "depth", "pre"],
        postgresql_include=["distributor_id", "active", "rank_id", "joined_at"],
    )
    op.create_index(
        "ix_genealogy_nodes_tree_pre",
        "genealogy_nodes",
        ["tree", "pre"],
        postgresql_include=["depth", "active", "rank_id", "joined_at"],
    )
    op.create_index("ix_genealogy_nodes_tree_post", "genealogy_nodes", ["tree", "post"])
    op.create_index(
        "ix_genealogy_nodes_slot_pre",
        "genealogy_nodes",
        ["slot", "pre"],
        postgresql_where=sa.text("tree = 2"),
    )
    op.create_index(
        "ix_genealogy_nodes_slot_post",
        "genealogy_nodes",
        ["slot", "post"],
        postgresql_where=sa.text("tree = 2"),
    )
    op.create_table(
        "genealogy_holding_tank",
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("sponsor_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "entered_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("place_by", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_genealogy_holding_tank_distributor_id_distributors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sponsor_id"],
            ["distributors.id"],
            name=op.f("fk_genealogy_holding_tank_sponsor_id_distributors"),
        ),
        sa.PrimaryKeyConstraint("distributor_id", name=op.f("pk_genealogy_holding_tank")),
    )
    op.create_index(
        "ix_genealogy_holding_tank_sponsor_id", "genealogy_holding_tank", ["sponsor_id"]
    )
    op.create_index("ix_genealogy_holding_tank_place_by", "genealogy_holding_tank", ["place_by"])
    op.create_table(
        "genealogy_compressions",
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("terminated_id", sa.BigInteger(), nullable=False),
        sa.Column("moved_to_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_genealogy_compressions_distributor_id_distributors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["terminated_id"],
            ["distributors.id"],
            name=op.f("fk_genealogy_compressions_terminated_id_distributors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("distributor_id", name=op.f("pk_genealogy_compressions")),
    )
    op.create_index(
        "ix_genealogy_compressions_terminated_id", "genealogy_compressions", ["terminated_id"]
    )
    op.execute(FUNCTIONS)
    for table in ("genealogy_nodes", "genealogy_holding_tank", "genealogy_compressions"):
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {RUNTIME_ROLES}")
    # Existing networks: index them (parents before children, so each insert is a leaf).
    op.execute(
        """
        DO $$
        DECLARE r record;
        BEGIN
            FOR r IN
                WITH RECURSIVE walk AS (
                    SELECT id, 0 AS level FROM distributors WHERE sponsor_id IS NULL
                    UNION ALL
                    SELECT d.id, w.level + 1 FROM distributors d JOIN walk w ON d.sponsor_id = w.id
                )
                SELECT d.id, d.sponsor_id FROM walk JOIN distributors d USING (id)
                ORDER BY walk.level, d.id
            LOOP
                PERFORM genealogy_place(1::smallint, r.id, r.sponsor_id, NULL);
            END LOOP;
            FOR r IN
                WITH RECURSIVE walk AS (
                    SELECT id, 0 AS level FROM distributors
                    WHERE placement_id IS NULL AND sponsor_id IS NULL
                    UNION ALL
                    SELECT d.id, w.level + 1 FROM distributors d
                    JOIN walk w ON d.placement_id = w.id
                )
                SELECT d.id, d.placement_id, d.position FROM walk JOIN distributors d USING (id)
                ORDER BY walk.level, d.position, d.id
            LOOP
                PERFORM genealogy_place(2::smallint, r.id, r.placement_id, r.position);
            END LOOP;
        END
        $$
        """
    )
    bind = op.get_bind()
    # The name index needs pg_trgm: created when the server has it and this role may (trusted
    # extension: CREATE on the database is enough); without it name filters still work, slower.
    can_create = bind.execute(
        sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')"
            " AND (has_database_privilege(current_database(), 'CREATE')"
            " OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper))"
        )
    ).scalar()
    if can_create:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    has_trgm = bind.execute(
        sa.text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")
    ).scalar()
    if has_trgm:
        op.execute(
            "CREATE INDEX ix_user_profiles_name_trgm ON user_profiles USING gin "
            "((lower(coalesce(first_name, '') || ' ' || coalesce(last_name, ''))) gin_trgm_ops)"
        )


def downgrade() -> None:
    """Revert the revision."""
    op.execute("DROP INDEX IF EXISTS ix_user_profiles_name_trgm")
    op.execute("DROP TRIGGER IF EXISTS genealogy_sync_filters ON distributors")
    op.execute("DROP FUNCTION IF EXISTS genealogy_sync_filters()")
    op.execute("DROP TRIGGER IF EXISTS genealogy_sync ON distributors")
    op.execute("DROP FUNCTION IF EXISTS genealogy_sync()")
    op.execute("DROP FUNCTION IF EXISTS genealogy_remove(smallint, bigint)")
    op.execute("DROP FUNCTION IF EXISTS genealogy_place(smallint, bigint, bigint, smallint)")
    op.execute(
        "DROP FUNCTION IF EXISTS genealogy_make_room(smallint, bigint, bigint, bigint, bigint,"
        " integer)"
    )
    op.execute(
        "DROP FUNCTION IF EXISTS genealogy_relabel(smallint, bigint, bigint, bigint, bigint,"
        " bigint, integer)"
    )
    op.execute("DROP FUNCTION IF EXISTS genealogy_token_count(smallint, bigint, bigint)")
    op.execute("DROP FUNCTION IF EXISTS genealogy_predecessor(smallint, bigint)")
    op.drop_table("genealogy_compressions")
    op.drop_table("genealogy_holding_tank")
    op.drop_table("genealogy_nodes")
