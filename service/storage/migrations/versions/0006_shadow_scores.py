"""shadow scores

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shadow_scores",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=16), nullable=False),
        sa.Column("needs_human", sa.Float(), nullable=True),
        sa.Column("emotional", sa.Float(), nullable=True),
        sa.Column("complex", sa.Float(), nullable=True),
        sa.Column("nuanced", sa.Float(), nullable=True),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_scores")),
    )
    with op.batch_alter_table("shadow_scores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shadow_scores_model_version"), ["model_version"], unique=False)
        batch_op.create_index("ix_shadow_scores_ticket", ["source", "external_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shadow_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_shadow_scores_ticket")
        batch_op.drop_index(batch_op.f("ix_shadow_scores_model_version"))

    op.drop_table("shadow_scores")
