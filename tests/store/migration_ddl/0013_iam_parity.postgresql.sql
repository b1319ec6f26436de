BEGIN;

-- Running upgrade 0012 -> 0013

CREATE TABLE instance_profiles (
    id SERIAL NOT NULL, 
    account_id VARCHAR(12) NOT NULL, 
    name VARCHAR(128) NOT NULL, 
    name_key VARCHAR(128) NOT NULL, 
    path VARCHAR(512) NOT NULL, 
    instance_profile_id VARCHAR(32) NOT NULL, 
    arn VARCHAR(2048) NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    tags JSON NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(account_id) REFERENCES accounts (id), 
    UNIQUE (account_id, name_key), 
    UNIQUE (arn), 
    UNIQUE (instance_profile_id)
);

CREATE INDEX ix_instance_profiles_account_id ON instance_profiles (account_id);

CREATE TABLE instance_profile_roles (
    profile_pk INTEGER NOT NULL, 
    role_pk INTEGER NOT NULL, 
    PRIMARY KEY (profile_pk, role_pk), 
    FOREIGN KEY(profile_pk) REFERENCES instance_profiles (id) ON DELETE CASCADE, 
    FOREIGN KEY(role_pk) REFERENCES roles (id)
);

CREATE INDEX ix_instance_profile_roles_role_pk ON instance_profile_roles (role_pk);

CREATE TABLE service_linked_role_deletions (
    deletion_task_id VARCHAR(1000) NOT NULL, 
    account_id VARCHAR(12) NOT NULL, 
    role_arn VARCHAR(2048) NOT NULL, 
    status VARCHAR(16) NOT NULL, 
    reason VARCHAR(1000), 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (deletion_task_id), 
    FOREIGN KEY(account_id) REFERENCES accounts (id)
);

CREATE INDEX ix_service_linked_role_deletions_account_id ON service_linked_role_deletions (account_id);

CREATE TABLE service_specific_credentials (
    credential_id VARCHAR(128) NOT NULL, 
    user_pk INTEGER NOT NULL, 
    service_name VARCHAR(128) NOT NULL, 
    service_user_name VARCHAR(200) NOT NULL, 
    password_sealed TEXT NOT NULL, 
    status VARCHAR(8) NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (credential_id), 
    FOREIGN KEY(user_pk) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_service_specific_credentials_user_pk ON service_specific_credentials (user_pk);

CREATE TABLE organization_handshakes (
    id VARCHAR(34) NOT NULL, 
    organization_id VARCHAR(34) NOT NULL, 
    action VARCHAR(32) NOT NULL, 
    target_type VARCHAR(16) NOT NULL, 
    target VARCHAR(254) NOT NULL, 
    target_account_id VARCHAR(12) NOT NULL, 
    state VARCHAR(16) NOT NULL, 
    notes VARCHAR(1024), 
    requested_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    tags JSON NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE INDEX ix_organization_handshakes_organization_id ON organization_handshakes (organization_id);

CREATE INDEX ix_organization_handshakes_target ON organization_handshakes (target);

CREATE INDEX ix_organization_handshakes_target_account_id ON organization_handshakes (target_account_id);

ALTER TABLE accounts ADD COLUMN closed_at TIMESTAMP WITH TIME ZONE;

UPDATE alembic_version SET version_num='0013' WHERE alembic_version.version_num = '0012';

COMMIT;

