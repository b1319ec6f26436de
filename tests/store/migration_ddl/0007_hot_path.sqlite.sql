-- Running upgrade 0006 -> 0007

CREATE TABLE generations (
    scope VARCHAR(64) NOT NULL, 
    value BIGINT NOT NULL, 
    PRIMARY KEY (scope)
);

CREATE TABLE role_trusted_principals (
    role_pk INTEGER NOT NULL, 
    principal VARCHAR(2048) NOT NULL, 
    PRIMARY KEY (role_pk, principal), 
    FOREIGN KEY(role_pk) REFERENCES roles (id) ON DELETE CASCADE
);

CREATE INDEX ix_role_trusted_principals_principal ON role_trusted_principals (principal);

ALTER TABLE audit_events ADD COLUMN management_event BOOLEAN DEFAULT 1 NOT NULL;

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0006';

