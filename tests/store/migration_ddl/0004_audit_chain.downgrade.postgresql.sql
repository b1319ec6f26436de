BEGIN;

-- Running downgrade 0004 -> 0003

DROP INDEX ix_audit_events_username;

DROP INDEX ix_audit_events_event_source;

DROP INDEX ix_audit_events_account_id;

DROP INDEX ix_audit_events_access_key_id;

ALTER TABLE audit_events DROP CONSTRAINT uq_audit_events_chain_index;

ALTER TABLE audit_events DROP COLUMN event_hash;

ALTER TABLE audit_events DROP COLUMN prev_hash;

ALTER TABLE audit_events DROP COLUMN chain_index;

ALTER TABLE audit_events DROP COLUMN account_id;

DROP INDEX ix_audit_digests_end_time;

DROP TABLE audit_digests;

DROP TABLE audit_chain_head;

DROP INDEX ix_audit_resources_short_name;

DROP INDEX ix_audit_resources_resource_type;

DROP INDEX ix_audit_resources_resource_name;

DROP INDEX ix_audit_resources_event_seq;

DROP TABLE audit_resources;

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0004';

COMMIT;

