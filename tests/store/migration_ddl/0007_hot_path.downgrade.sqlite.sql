-- Running downgrade 0007 -> 0006

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
    chain_index BIGINT NOT NULL, 
    prev_hash VARCHAR(64) NOT NULL, 
    event_hash VARCHAR(64) NOT NULL, 
    account_id VARCHAR(12), 
    PRIMARY KEY (seq), 
    CONSTRAINT uq_audit_events_chain_index UNIQUE (chain_index), 
    UNIQUE (event_id)
);

INSERT INTO _alembic_tmp_audit_events (seq, event_id, event_time, event_source, event_name, username, access_key_id, error_code, read_only, record, chain_index, prev_hash, event_hash, account_id) SELECT audit_events.seq, audit_events.event_id, audit_events.event_time, audit_events.event_source, audit_events.event_name, audit_events.username, audit_events.access_key_id, audit_events.error_code, audit_events.read_only, audit_events.record, audit_events.chain_index, audit_events.prev_hash, audit_events.event_hash, audit_events.account_id 
FROM audit_events;

DROP TABLE audit_events;

ALTER TABLE _alembic_tmp_audit_events RENAME TO audit_events;

CREATE INDEX ix_audit_events_access_key_id ON audit_events (access_key_id);

CREATE INDEX ix_audit_events_account_id ON audit_events (account_id);

CREATE INDEX ix_audit_events_event_name ON audit_events (event_name);

CREATE INDEX ix_audit_events_event_source ON audit_events (event_source);

CREATE INDEX ix_audit_events_time ON audit_events (event_time);

CREATE INDEX ix_audit_events_username ON audit_events (username);

DROP INDEX ix_role_trusted_principals_principal;

DROP TABLE role_trusted_principals;

DROP TABLE generations;

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0007';

