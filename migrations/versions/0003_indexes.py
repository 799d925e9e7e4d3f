"""indexes: the next claim walks (state, round, position); session windows' lines; label history

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 00:30:00
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_index('ix_queue_items_next', table_name='queue_items')
    op.create_index('ix_queue_items_next', 'queue_items', ['project_id', 'state', 'round', 'position'])
    op.create_index('ix_log_lines_dataset_session', 'log_lines', ['dataset_id', 'session'])
    op.create_index('ix_labels_project_updated', 'labels', ['project_id', 'updated_at'])


def downgrade() -> None:
    op.drop_index('ix_labels_project_updated', table_name='labels')
    op.drop_index('ix_log_lines_dataset_session', table_name='log_lines')
    op.drop_index('ix_queue_items_next', table_name='queue_items')
    op.create_index('ix_queue_items_next', 'queue_items', ['project_id', 'state', 'position'])
