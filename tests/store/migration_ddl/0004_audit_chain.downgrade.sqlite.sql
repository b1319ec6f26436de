-- Running downgrade 0004 -> 0003

CREATE TABLE _alembic_tmp_audit_events (
    seq INTEGER NOT NULL, 
    event_id VARCHAR(36) NOT NULL, 
    event_time DATETIME NOT NULL, 
    event_source VARCHAR(64) NOT NULL, 
    event_name VARCHAR(128) NOT NULL, 
    username VARCHAR(256), 
    access_key_id VARCHAR(20), 
    error_code VARCHAR(64), 
    read_only BOOLEAN NOT NULL, 
    record JSON NOT NULL, 
    PRIMARY KEY (seq), 
    UNIQUE (event_id)
);

INSERT INTO _alembic_tmp_audit_events (seq, event_id, event_time, event_source, event_name, username, access_key_id, error_code, read_only, record) SELECT audit_events.seq, audit_events.event_id, audit_events.event_time, audit_events.event_source, audit_events.event_name, audit_events.username, audit_events.access_key_id, audit_events.error_code, audit_events.read_only, audit_events.record 
FROM audit_events;

DROP TABLE audit_events;

ALTER TABLE _alembic_tmp_audit_events RENAME TO audit_events;

CREATE INDEX ix_audit_events_event_name ON audit_events (event_name);

CREATE INDEX ix_audit_events_time ON audit_events (event_time);

DROP INDEX ix_audit_digests_end_time;

DROP TABLE audit_digests;

DROP TABLE audit_chain_head;

DROP INDEX ix_audit_resources_short_name;

DROP INDEX ix_audit_resources_resource_type;

DROP INDEX ix_audit_resources_resource_name;

DROP INDEX ix_audit_resources_event_seq;

DROP TABLE audit_resources;

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0004';

