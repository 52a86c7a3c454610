"""add communication batching tables

Revision ID: 6efc92f7c7g9
Revises: 5dfc91e6b6f9
Create Date: 2025-05-06 15:30:08.196334

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '6efc92f7c7g9'
down_revision: Union[str, None] = '5dfc91e6b6f9'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Add potentially available fields to therapist table
    op.add_column('therapists', 
                  sa.Column('potentially_available', sa.Boolean(), server_default='false'),
                  schema='therapist_service')
    op.add_column('therapists',
                  sa.Column('potentially_available_notes', sa.Text()),
                  schema='therapist_service')
                  
    # Create phone_call_status enum
    phone_call_status = sa.Enum('scheduled', 'completed', 'failed', 'canceled',
                               name='phonecallstatus')
    
    # Create phone_calls table
    op.create_table('phone_calls',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('therapist_id', sa.Integer(), nullable=False),
        sa.Column('scheduled_date', sa.Date(), nullable=False),
        sa.Column('scheduled_time', sa.Time(), nullable=False),
        sa.Column('duration_minutes', sa.Integer(), nullable=True, server_default='5'),
        sa.Column('actual_date', sa.Date(), nullable=True),
        sa.Column('actual_time', sa.Time(), nullable=True),
        sa.Column('status', phone_call_status, nullable=True),
        sa.Column('outcome', sa.Text(), nullable=True),
        sa.Column('notes', sa.Text(), nullable=True),
        sa.Column('retry_after', sa.Date(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=True, server_default=sa.text('CURRENT_TIMESTAMP')),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        schema='communication_service'
    )
    
    # Create indexes for phone_calls
    op.create_index('idx_phone_calls_therapist_id', 'phone_calls', ['therapist_id'], 
                   schema='communication_service')
    op.create_index('idx_phone_calls_scheduled_date', 'phone_calls', ['scheduled_date'], 
                   schema='communication_service')
    op.create_index('idx_phone_calls_status', 'phone_calls', ['status'], 
                   schema='communication_service')
    
    # Create phone_call_batches table
    op.create_table('phone_call_batches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phone_call_id', sa.Integer(), nullable=False),
        sa.Column('placement_request_id', sa.Integer(), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=True, server_default='1'),
        sa.Column('discussed', sa.Boolean(), nullable=True, server_default='false'),
        sa.Column('outcome', sa.String(length=50), nullable=True),
        sa.Column('follow_up_required', sa.Boolean(), nullable=True, server_default='false'),
        sa.Column('follow_up_notes', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=True, server_default=sa.text('CURRENT_TIMESTAMP')),
        sa.ForeignKeyConstraint(['phone_call_id'], ['communication_service.phone_calls.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['placement_request_id'], ['matching_service.placement_requests.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('phone_call_id', 'placement_request_id'),
        schema='communication_service'
    )
    
    # Create indexes for phone_call_batches
    op.create_index('idx_phone_call_batches_phone_call_id', 'phone_call_batches', ['phone_call_id'], 
                   schema='communication_service')
    op.create_index('idx_phone_call_batches_placement_request_id', 'phone_call_batches', ['placement_request_id'], 
                   schema='communication_service')
    
    # Create email_batches table
    op.create_table('email_batches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email_id', sa.Integer(), nullable=False),
        sa.Column('placement_request_id', sa.Integer(), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=True, server_default='1'),
        sa.Column('created_at', sa.DateTime(), nullable=True, server_default=sa.text('CURRENT_TIMESTAMP')),
        sa.ForeignKeyConstraint(['email_id'], ['communication_service.emails.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['placement_request_id'], ['matching_service.placement_requests.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('email_id', 'placement_request_id'),
        schema='communication_service'
    )
    
    # Create indexes for email_batches
    op.create_index('idx_email_batches_email_id', 'email_batches', ['email_id'], 
                   schema='communication_service')
    op.create_index('idx_email_batches_placement_request_id', 'email_batches', ['placement_request_id'], 
                   schema='communication_service')
    
    # Add fields to existing emails table
    op.add_column('emails', 
                  sa.Column('batch_id', sa.String(length=50), nullable=True),
                  schema='communication_service')
    op.add_column('emails',
                  sa.Column('response_received', sa.Boolean(), nullable=True, server_default='false'),
                  schema='communication_service')
    op.add_column('emails',
                  sa.Column('response_date', sa.DateTime(), nullable=True),
                  schema='communication_service')
    op.add_column('emails',
                  sa.Column('response_content', sa.Text(), nullable=True),
                  schema='communication_service')
    op.add_column('emails',
                  sa.Column('follow_up_required', sa.Boolean(), nullable=True, server_default='false'),
                  schema='communication_service')
    op.add_column('emails',
                  sa.Column('follow_up_notes', sa.Text(), nullable=True),
                  schema='communication_service')


def downgrade() -> None:
    """Downgrade schema."""
    # Drop added columns from emails table
    op.drop_column('emails', 'follow_up_notes', schema='communication_service')
    op.drop_column('emails', 'follow_up_required', schema='communication_service')
    op.drop_column('emails', 'response_content', schema='communication_service')
    op.drop_column('emails', 'response_date', schema='communication_service')
    op.drop_column('emails', 'response_received', schema='communication_service')
    op.drop_column('emails', 'batch_id', schema='communication_service')
    
    # Drop email_batches table and indexes
    op.drop_index('idx_email_batches_placement_request_id', table_name='email_batches', 
                 schema='communication_service')
    op.drop_index('idx_email_batches_email_id', table_name='email_batches', 
                 schema='communication_service')
    op.drop_table('email_batches', schema='communication_service')
    
    # Drop phone_call_batches table and indexes
    op.drop_index('idx_phone_call_batches_placement_request_id', table_name='phone_call_batches', 
                 schema='communication_service')
    op.drop_index('idx_phone_call_batches_phone_call_id', table_name='phone_call_batches', 
                 schema='communication_service')
    op.drop_table('phone_call_batches', schema='communication_service')
    
    # Drop phone_calls table and indexes
    op.drop_index('idx_phone_calls_status', table_name='phone_calls', 
                 schema='communication_service')
    op.drop_index('idx_phone_calls_scheduled_date', table_name='phone_calls', 
                 schema='communication_service')
    op.drop_index('idx_phone_calls_therapist_id', table_name='phone_calls', 
                 schema='communication_service')
    op.drop_table('phone_calls', schema='communication_service')
    
    # Drop the enum type
    sa.Enum(name='phonecallstatus').drop(op.get_bind())
    
    # Drop added columns from therapists table
    op.drop_column('therapists', 'potentially_available_notes', schema='therapist_service')
    op.drop_column('therapists', 'potentially_available', schema='therapist_service')
