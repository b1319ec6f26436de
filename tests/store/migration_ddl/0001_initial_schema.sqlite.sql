CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE accounts (
    id VARCHAR(12) NOT NULL, 
    alias VARCHAR(63), 
    name VARCHAR(50) NOT NULL, 
    email VARCHAR(254), 
    created_at DATETIME NOT NULL, 
    PRIMARY KEY (id), 
    UNIQUE (alias)
);

CREATE TABLE audit_events (
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

CREATE INDEX ix_audit_events_event_name ON audit_events (event_name);

CREATE INDEX ix_audit_events_time ON audit_events (event_time);

CREATE TABLE saml_requests (
    request_id VARCHAR(128) NOT NULL, 
    provider_arn VARCHAR(2048) NOT NULL, 
    browser_binding VARCHAR(64) NOT NULL, 
    relay_state VARCHAR(512), 
    created_at DATETIME NOT NULL, 
    expires_at DATETIME NOT NULL, 
    consumed_at DATETIME, 
    PRIMARY KEY (request_id)
);

CREATE INDEX ix_saml_requests_expires_at ON saml_requests (expires_at);

CREATE TABLE seen_assertions (
    issuer VARCHAR(1024) NOT NULL, 
    assertion_id VARCHAR(256) NOT NULL, 
    expires_at DATETIME NOT NULL, 
    PRIMARY KEY (issuer, assertion_id)
);

CREATE INDEX ix_seen_assertions_expires_at ON seen_assertions (expires_at);

CREATE TABLE web_sessions (
    id_hash VARCHAR(64) NOT NULL, 
    provider_arn VARCHAR(2048) NOT NULL, 
    subject VARCHAR(1024) NOT NULL, 
    assertion JSON NOT NULL, 
    csrf_token VARCHAR(64) NOT NULL, 
    created_at DATETIME NOT NULL, 
    expires_at DATETIME NOT NULL, 
    PRIMARY KEY (id_hash)
);

CREATE INDEX ix_web_sessions_expires_at ON web_sessions (expires_at);

CREATE TABLE roles (
    id INTEGER NOT NULL, 
    account_id VARCHAR(12) NOT NULL, 
    name VARCHAR(64) NOT NULL, 
    name_key VARCHAR(64) NOT NULL, 
    path VARCHAR(512) NOT NULL, 
    role_id VARCHAR(32) NOT NULL, 
    arn VARCHAR(2048) NOT NULL, 
    trust_policy TEXT NOT NULL, 
    description VARCHAR(1000) NOT NULL, 
    max_session_duration INTEGER NOT NULL, 
    permissions_boundary_arn VARCHAR(2048), 
    created_at DATETIME NOT NULL, 
    tags JSON NOT NULL, 
    last_used_at DATETIME, 
    last_used_region VARCHAR(32), 
    PRIMARY KEY (id), 
    FOREIGN KEY(account_id) REFERENCES accounts (id), 
    UNIQUE (account_id, name_key), 
    UNIQUE (arn), 
    UNIQUE (role_id)
);

CREATE INDEX ix_roles_account_id ON roles (account_id);

CREATE TABLE saml_providers (
    id INTEGER NOT NULL, 
    account_id VARCHAR(12) NOT NULL, 
    name VARCHAR(128) NOT NULL, 
    name_key VARCHAR(128) NOT NULL, 
    arn VARCHAR(2048) NOT NULL, 
    entity_id VARCHAR(1024) NOT NULL, 
    metadata_xml TEXT NOT NULL, 
    valid_until DATETIME, 
    created_at DATETIME NOT NULL, 
    tags JSON NOT NULL, 
    options JSON NOT NULL, 
    source VARCHAR(300) NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(account_id) REFERENCES accounts (id), 
    UNIQUE (account_id, name_key), 
    UNIQUE (arn)
);

CREATE INDEX ix_saml_providers_account_id ON saml_providers (account_id);

CREATE INDEX ix_saml_providers_entity_id ON saml_providers (entity_id);

CREATE TABLE users (
    id INTEGER NOT NULL, 
    account_id VARCHAR(12) NOT NULL, 
    name VARCHAR(64) NOT NULL, 
    name_key VARCHAR(64) NOT NULL, 
    path VARCHAR(512) NOT NULL, 
    user_id VARCHAR(32) NOT NULL, 
    arn VARCHAR(2048) NOT NULL, 
    created_at DATETIME NOT NULL, 
    tags JSON NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(account_id) REFERENCES accounts (id), 
    UNIQUE (account_id, name_key), 
    UNIQUE (arn), 
    UNIQUE (user_id)
);

CREATE INDEX ix_users_account_id ON users (account_id);

CREATE TABLE access_keys (
    access_key_id VARCHAR(20) NOT NULL, 
    user_pk INTEGER NOT NULL, 
    secret_sealed TEXT NOT NULL, 
    status VARCHAR(8) NOT NULL, 
    created_at DATETIME NOT NULL, 
    last_used_at DATETIME, 
    last_used_service VARCHAR(32), 
    last_used_region VARCHAR(32), 
    PRIMARY KEY (access_key_id), 
    FOREIGN KEY(user_pk) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_access_keys_user_pk ON access_keys (user_pk);

CREATE TABLE role_inline_policies (
    id INTEGER NOT NULL, 
    role_pk INTEGER NOT NULL, 
    name VARCHAR(128) NOT NULL, 
    document TEXT NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(role_pk) REFERENCES roles (id) ON DELETE CASCADE, 
    UNIQUE (role_pk, name)
);

CREATE INDEX ix_role_inline_policies_role_pk ON role_inline_policies (role_pk);

CREATE TABLE user_inline_policies (
    id INTEGER NOT NULL, 
    user_pk INTEGER NOT NULL, 
    name VARCHAR(128) NOT NULL, 
    document TEXT NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(user_pk) REFERENCES users (id) ON DELETE CASCADE, 
    UNIQUE (user_pk, name)
);

CREATE INDEX ix_user_inline_policies_user_pk ON user_inline_policies (user_pk);

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING version_num;

