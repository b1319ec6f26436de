BEGIN;

-- Running upgrade 0008 -> 0009

CREATE TABLE cli_user_code_attempts (
    key_hash VARCHAR(64) NOT NULL, 
    kind VARCHAR(16) NOT NULL, 
    failures INTEGER NOT NULL, 
    window_started_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    locked_until TIMESTAMP WITH TIME ZONE, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (key_hash)
);

CREATE INDEX ix_cli_user_code_attempts_expires_at ON cli_user_code_attempts (expires_at);

UPDATE alembic_version SET version_num='0009' WHERE alembic_version.version_num = '0008';

COMMIT;

