"""active-learning loop: retrain rule, project training lease, idempotent labels

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 10:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retrain_every', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('training_owner', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('training_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(op.f('ck_projects_retrain_every'), 'retrain_every >= 0')
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint('uq_labels_idempotency_key', ['project_id', 'idempotency_key'])


def downgrade() -> None:
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.drop_constraint('uq_labels_idempotency_key', type_='unique')
        batch_op.drop_column('idempotency_key')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_projects_retrain_every'), type_='check')
        batch_op.drop_column('training_expires_at')
        batch_op.drop_column('training_owner')
        batch_op.drop_column('retrain_every')
