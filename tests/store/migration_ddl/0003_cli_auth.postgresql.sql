BEGIN;

-- Running upgrade 0002 -> 0003

CREATE TABLE cli_authorizations (
    request_hash VARCHAR(64) NOT NULL, 
    code_hash VARCHAR(64), 
    client_id VARCHAR(64) NOT NULL, 
    redirect_uri VARCHAR(512) NOT NULL, 
    code_challenge VARCHAR(128) NOT NULL, 
    state VARCHAR(512) NOT NULL, 
    requested_role_arn VARCHAR(2048), 
    requested_duration INTEGER, 
    provider VARCHAR(256), 
    web_session_hash VARCHAR(64), 
    role_arn VARCHAR(2048), 
    duration_seconds INTEGER, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    code_expires_at TIMESTAMP WITH TIME ZONE, 
    consumed_at TIMESTAMP WITH TIME ZONE, 
    PRIMARY KEY (request_hash), 
    UNIQUE (code_hash)
);

CREATE INDEX ix_cli_authorizations_expires_at ON cli_authorizations (expires_at);

CREATE TABLE device_authorizations (
    device_code_hash VARCHAR(64) NOT NULL, 
    user_code VARCHAR(16) NOT NULL, 
    client_id VARCHAR(64) NOT NULL, 
    requested_role_arn VARCHAR(2048), 
    requested_duration INTEGER, 
    source_ip VARCHAR(64), 
    interval_seconds INTEGER NOT NULL, 
    status VARCHAR(16) NOT NULL, 
    web_session_hash VARCHAR(64), 
    role_arn VARCHAR(2048), 
    duration_seconds INTEGER, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    last_polled_at TIMESTAMP WITH TIME ZONE, 
    decided_at TIMESTAMP WITH TIME ZONE, 
    consumed_at TIMESTAMP WITH TIME ZONE, 
    PRIMARY KEY (device_code_hash), 
    UNIQUE (user_code)
);

CREATE INDEX ix_device_authorizations_expires_at ON device_authorizations (expires_at);

CREATE TABLE cli_sessions (
    handle_hash VARCHAR(64) NOT NULL, 
    web_session_hash VARCHAR(64) NOT NULL, 
    client_id VARCHAR(64) NOT NULL, 
    subject VARCHAR(1024) NOT NULL, 
    provider_arn VARCHAR(2048) NOT NULL, 
    default_role_arn VARCHAR(2048) NOT NULL, 
    grant_ref VARCHAR(64) NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    last_used_at TIMESTAMP WITH TIME ZONE, 
    revoked_at TIMESTAMP WITH TIME ZONE, 
    PRIMARY KEY (handle_hash), 
    FOREIGN KEY(web_session_hash) REFERENCES web_sessions (id_hash) ON DELETE CASCADE
);

CREATE INDEX ix_cli_sessions_expires_at ON cli_sessions (expires_at);

CREATE INDEX ix_cli_sessions_grant_ref ON cli_sessions (grant_ref);

CREATE INDEX ix_cli_sessions_web_session_hash ON cli_sessions (web_session_hash);

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

COMMIT;

