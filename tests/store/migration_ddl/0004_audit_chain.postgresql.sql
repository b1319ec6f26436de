BEGIN;

-- Running upgrade 0003 -> 0004

ALTER TABLE audit_events ADD COLUMN chain_index BIGINT;

ALTER TABLE audit_events ADD COLUMN prev_hash VARCHAR(64);

ALTER TABLE audit_events ADD COLUMN event_hash VARCHAR(64);

ALTER TABLE audit_events ADD COLUMN account_id VARCHAR(12);

CREATE TABLE audit_resources (
    id SERIAL NOT NULL, 
    event_seq INTEGER NOT NULL, 
    resource_type VARCHAR(64), 
    resource_name VARCHAR(2048) NOT NULL, 
    short_name VARCHAR(512) NOT NULL, 
    PRIMARY KEY (id)
);

CREATE INDEX ix_audit_resources_event_seq ON audit_resources (event_seq);

CREATE INDEX ix_audit_resources_resource_name ON audit_resources (resource_name);

CREATE INDEX ix_audit_resources_resource_type ON audit_resources (resource_type);

CREATE INDEX ix_audit_resources_short_name ON audit_resources (short_name);

CREATE TABLE audit_chain_head (
    id SERIAL NOT NULL, 
    last_index BIGINT NOT NULL, 
    last_hash VARCHAR(64) NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE, 
    PRIMARY KEY (id)
);

CREATE TABLE audit_digests (
    digest_index INTEGER NOT NULL, 
    first_index BIGINT NOT NULL, 
    last_index BIGINT NOT NULL, 
    start_time TIMESTAMP WITH TIME ZONE NOT NULL, 
    end_time TIMESTAMP WITH TIME ZONE NOT NULL, 
    document TEXT NOT NULL, 
    signature VARCHAR(128) NOT NULL, 
    key_id VARCHAR(64) NOT NULL, 
    PRIMARY KEY (digest_index)
);

CREATE INDEX ix_audit_digests_end_time ON audit_digests (end_time);

SELECT audit_events.seq, audit_events.record 
FROM audit_events ORDER BY audit_events.seq;

INSERT INTO audit_chain_head (id, last_index, last_hash, updated_at) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', '<now>');

ALTER TABLE audit_events ALTER COLUMN chain_index SET NOT NULL;

ALTER TABLE audit_events ALTER COLUMN prev_hash SET NOT NULL;

ALTER TABLE audit_events ALTER COLUMN event_hash SET NOT NULL;

ALTER TABLE audit_events ADD CONSTRAINT uq_audit_events_chain_index UNIQUE (chain_index);

CREATE INDEX ix_audit_events_access_key_id ON audit_events (access_key_id);

CREATE INDEX ix_audit_events_account_id ON audit_events (account_id);

CREATE INDEX ix_audit_events_event_source ON audit_events (event_source);

CREATE INDEX ix_audit_events_username ON audit_events (username);

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

COMMIT;

