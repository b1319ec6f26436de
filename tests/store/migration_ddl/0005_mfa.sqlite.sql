-- Running upgrade 0004 -> 0005

CREATE TABLE mfa_devices (
    serial_number VARCHAR(256) NOT NULL, 
    account_id VARCHAR(12) NOT NULL, 
    name VARCHAR(226) NOT NULL, 
    name_key VARCHAR(226) NOT NULL, 
    path VARCHAR(512) NOT NULL, 
    seed_sealed TEXT NOT NULL, 
    created_at DATETIME NOT NULL, 
    tags JSON NOT NULL, 
    user_pk INTEGER, 
    enabled_at DATETIME, 
    last_used_step BIGINT NOT NULL, 
    failed_attempts INTEGER NOT NULL, 
    failures_since DATETIME, 
    locked_until DATETIME, 
    PRIMARY KEY (serial_number), 
    FOREIGN KEY(account_id) REFERENCES accounts (id), 
    FOREIGN KEY(user_pk) REFERENCES users (id) ON DELETE SET NULL, 
    UNIQUE (account_id, name_key)
);

CREATE INDEX ix_mfa_devices_account_id ON mfa_devices (account_id);

CREATE INDEX ix_mfa_devices_user_pk ON mfa_devices (user_pk);

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

