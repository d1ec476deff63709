"""Initial case store: accounts, clusters, signals, payments, cases, evidence, decisions, actions, appeals,
reversals, policy versions, the append-only audit log, the transactional outbox, API clients and operators.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _key() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


CASE_STATUSES = "'open', 'proposed', 'review', 'approved', 'rejected', 'escalated', 'enforced', 'reversed', 'closed'"

PG_APPEND_ONLY = [
    """
    CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()",
]
SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END",
]


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("cluster_id", sa.String(128), nullable=True),
        sa.Column("signup_path", sa.String(32), nullable=True),
        sa.Column("verification", sa.String(32), nullable=True),
        sa.Column("org_id", sa.String(128), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("signed_up_at", _utc(), nullable=True),
        sa.Column("last_score", sa.Float(), nullable=True),
        sa.Column("last_reasons", _json(), nullable=False),
        sa.Column("last_signal_at", _utc(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_accounts"),
    )
    op.create_index("ix_accounts_cluster_id", "accounts", ["cluster_id"])

    op.create_table(
        "account_identifiers",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("first_seen_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", "account_id", name="pk_account_identifiers"),
    )
    op.create_index("ix_account_identifiers_account_id", "account_identifiers", ["account_id"])

    op.create_table(
        "clusters",
        sa.Column("cluster_id", sa.String(128), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("members", _json(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("org_count", sa.Integer(), nullable=False),
        sa.Column("evidence", _json(), nullable=False),
        sa.Column("absorbed_into", sa.String(128), nullable=True),
        sa.Column("occurred_at", _utc(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("cluster_id", name="pk_clusters"),
    )

    op.create_table(
        "signals",
        sa.Column("signal_id", sa.String(200), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=True),
        sa.Column("cluster_id", sa.String(128), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.PrimaryKeyConstraint("signal_id", name="pk_signals"),
    )
    op.create_index("ix_signals_account_id_source", "signals", ["account_id", "source"])

    op.create_table(
        "payments",
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("card_fingerprint", sa.String(128), nullable=True),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_payments"),
    )
    op.create_index("ix_payments_account_id_occurred_at", "payments", ["account_id", "occurred_at"])

    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(128), nullable=False),
        sa.Column("cluster_id", sa.String(128), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("proposed_action", sa.String(16), nullable=False),
        sa.Column("rpm_cap", sa.Integer(), nullable=True),
        sa.Column("policy_rule", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("cluster_size", sa.Integer(), nullable=False),
        sa.Column("reasons", _json(), nullable=False),
        sa.Column("blast_radius", _json(), nullable=False),
        sa.Column("review_reasons", _json(), nullable=False),
        sa.Column("opened_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.CheckConstraint(f"status IN ({CASE_STATUSES})", name="ck_cases_status"),
        sa.CheckConstraint("subject_kind IN ('account', 'cluster')", name="ck_cases_subject_kind"),
        sa.PrimaryKeyConstraint("case_id", name="pk_cases"),
    )
    op.create_index("ix_cases_cluster_id", "cases", ["cluster_id"])
    op.create_index("ix_cases_status_updated_at", "cases", ["status", "updated_at"])
    op.create_index("ix_cases_subject_kind_subject_id", "cases", ["subject_kind", "subject_id"])

    op.create_table(
        "evidence_snapshots",
        sa.Column("id", _key(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("captured_at", _utc(), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], name="fk_evidence_snapshots_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_snapshots"),
    )
    op.create_index("ix_evidence_snapshots_case_id", "evidence_snapshots", ["case_id"])

    op.create_table(
        "decisions",
        sa.Column("id", _key(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("decided_at", _utc(), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], name="fk_decisions_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
    )
    op.create_index("ix_decisions_case_id", "decisions", ["case_id"])

    op.create_table(
        "actions",
        sa.Column("action_id", sa.String(36), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("cluster_id", sa.String(128), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rpm_cap", sa.Integer(), nullable=True),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("signal_id", sa.String(200), nullable=True),
        sa.Column("signal_occurred_at", _utc(), nullable=True),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("policy_rule", sa.String(128), nullable=False),
        sa.Column("reason_codes", _json(), nullable=False),
        sa.Column("blast_radius", _json(), nullable=False),
        sa.Column("review_reasons", _json(), nullable=False),
        sa.Column("reverses_action_id", sa.String(36), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("applied_at", _utc(), nullable=True),
        sa.Column("applied_by", sa.String(128), nullable=True),
        sa.Column("reversed_at", _utc(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('monitor', 'throttle', 'challenge', 'suspend', 'ban', 'restore')", name="ck_actions_kind"
        ),
        sa.CheckConstraint("status IN ('proposed', 'applied', 'reversed', 'rejected')", name="ck_actions_status"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], name="fk_actions_case_id_cases"),
        sa.PrimaryKeyConstraint("action_id", name="pk_actions"),
        sa.UniqueConstraint("idempotency_key", name="uq_actions_idempotency_key"),
    )
    op.create_index("ix_actions_account_id_status", "actions", ["account_id", "status"])
    op.create_index("ix_actions_case_id", "actions", ["case_id"])

    op.create_table(
        "appeals",
        sa.Column("appeal_id", sa.String(36), nullable=False),
        sa.Column("action_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filed_by", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("filed_at", _utc(), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_at", _utc(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'upheld', 'denied')", name="ck_appeals_status"),
        sa.ForeignKeyConstraint(["action_id"], ["actions.action_id"], name="fk_appeals_action_id_actions"),
        sa.PrimaryKeyConstraint("appeal_id", name="pk_appeals"),
    )
    op.create_index("ix_appeals_action_id", "appeals", ["action_id"])

    op.create_table(
        "reversals",
        sa.Column("id", _key(), autoincrement=True, nullable=False),
        sa.Column("action_id", sa.String(36), nullable=False),
        sa.Column("restore_action_id", sa.String(36), nullable=False),
        sa.Column("appeal_id", sa.String(36), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reversed_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["action_id"], ["actions.action_id"], name="fk_reversals_action_id_actions"),
        sa.ForeignKeyConstraint(["appeal_id"], ["appeals.appeal_id"], name="fk_reversals_appeal_id_appeals"),
        sa.ForeignKeyConstraint(
            ["restore_action_id"], ["actions.action_id"], name="fk_reversals_restore_action_id_actions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reversals"),
        sa.UniqueConstraint("action_id", name="uq_reversals_action_id"),
    )

    op.create_table(
        "policy_versions",
        sa.Column("id", _key(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("loaded_by", sa.String(128), nullable=False),
        sa.Column("loaded_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policy_versions"),
        sa.UniqueConstraint("version", name="uq_policy_versions_version"),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", _key(), autoincrement=True, nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor", "id"])
    op.create_index("ix_audit_log_subject_id", "audit_log", ["subject", "id"])
    dialect = op.get_bind().dialect.name
    for statement in PG_APPEND_ONLY if dialect == "postgresql" else SQLITE_APPEND_ONLY if dialect == "sqlite" else []:
        op.execute(statement)

    op.create_table(
        "outbox",
        sa.Column("id", _key(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("published_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )

    op.create_table(
        "api_clients",
        sa.Column("id", _key(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", _json(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_clients"),
        sa.UniqueConstraint("name", name="uq_api_clients_name"),
        sa.UniqueConstraint("token_sha256", name="uq_api_clients_token_sha256"),
    )

    op.create_table(
        "operators",
        sa.Column("id", _key(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.CheckConstraint("role IN ('viewer', 'analyst', 'admin')", name="ck_operators_role"),
        sa.PrimaryKeyConstraint("id", name="pk_operators"),
        sa.UniqueConstraint("name", name="uq_operators_name"),
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in (
        "operators", "api_clients", "outbox", "audit_log", "policy_versions", "reversals", "appeals", "actions",
        "decisions", "evidence_snapshots", "cases", "payments", "signals", "clusters", "account_identifiers",
        "accounts",
    ):
        op.drop_table(table)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse_change()")
