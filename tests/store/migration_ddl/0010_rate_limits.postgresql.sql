BEGIN;

-- Running upgrade 0009 -> 0010

CREATE TABLE rate_limit_buckets (
    bucket VARCHAR(32) NOT NULL, 
    key VARCHAR(128) NOT NULL, 
    tat DOUBLE PRECISION NOT NULL, 
    admitted BOOLEAN NOT NULL, 
    refused INTEGER NOT NULL, 
    suppressed INTEGER NOT NULL, 
    reported_at DOUBLE PRECISION NOT NULL, 
    PRIMARY KEY (bucket, key)
);

ALTER TABLE rate_limit_buckets SET UNLOGGED;

UPDATE alembic_version SET version_num='0010' WHERE alembic_version.version_num = '0009';

COMMIT;

