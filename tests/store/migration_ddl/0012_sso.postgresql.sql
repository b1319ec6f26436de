BEGIN;

-- Running upgrade 0011 -> 0012

CREATE TABLE sso_clients (
    client_id VARCHAR(64) NOT NULL, 
    client_secret_hash VARCHAR(64) NOT NULL, 
    client_name VARCHAR(128) NOT NULL, 
    client_type VARCHAR(16) NOT NULL, 
    registration JSON NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (client_id)
);

CREATE INDEX ix_sso_clients_expires_at ON sso_clients (expires_at);

CREATE TABLE sso_authorizations (
    grant_hash VARCHAR(64) NOT NULL, 
    kind VARCHAR(8) NOT NULL, 
    client_id VARCHAR(64) NOT NULL, 
    user_code VARCHAR(16), 
    redirect_uri VARCHAR(512), 
    state VARCHAR(512), 
    code_challenge VARCHAR(128), 
    code_hash VARCHAR(64), 
    start_url VARCHAR(512), 
    source_ip VARCHAR(64), 
    interval_seconds INTEGER NOT NULL, 
    status VARCHAR(16) NOT NULL, 
    web_session_hash VARCHAR(64), 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    last_polled_at TIMESTAMP WITH TIME ZONE, 
    decided_at TIMESTAMP WITH TIME ZONE, 
    consumed_at TIMESTAMP WITH TIME ZONE, 
    PRIMARY KEY (grant_hash), 
    FOREIGN KEY(client_id) REFERENCES sso_clients (client_id) ON DELETE CASCADE, 
    UNIQUE (user_code), 
    UNIQUE (code_hash)
);

CREATE INDEX ix_sso_authorizations_client_id ON sso_authorizations (client_id);

CREATE INDEX ix_sso_authorizations_expires_at ON sso_authorizations (expires_at);

CREATE TABLE sso_sessions (
    session_id VARCHAR(32) NOT NULL, 
    refresh_hash VARCHAR(64) NOT NULL, 
    client_id VARCHAR(64) NOT NULL, 
    subject VARCHAR(1024) NOT NULL, 
    provider_arn VARCHAR(2048) NOT NULL, 
    sign_in JSON NOT NULL, 
    grant_ref VARCHAR(64) NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    last_used_at TIMESTAMP WITH TIME ZONE, 
    revoked_at TIMESTAMP WITH TIME ZONE, 
    PRIMARY KEY (session_id), 
    UNIQUE (refresh_hash)
);

CREATE INDEX ix_sso_sessions_client_id ON sso_sessions (client_id);

CREATE INDEX ix_sso_sessions_expires_at ON sso_sessions (expires_at);

CREATE INDEX ix_sso_sessions_grant_ref ON sso_sessions (grant_ref);

CREATE TABLE sso_access_tokens (
    token_hash VARCHAR(64) NOT NULL, 
    session_id VARCHAR(32) NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (token_hash), 
    FOREIGN KEY(session_id) REFERENCES sso_sessions (session_id) ON DELETE CASCADE
);

CREATE INDEX ix_sso_access_tokens_expires_at ON sso_access_tokens (expires_at);

CREATE INDEX ix_sso_access_tokens_session_id ON sso_access_tokens (session_id);

UPDATE alembic_version SET version_num='0012' WHERE alembic_version.version_num = '0011';

COMMIT;

