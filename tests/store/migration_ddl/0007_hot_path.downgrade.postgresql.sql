BEGIN;

-- Running downgrade 0007 -> 0006

ALTER TABLE audit_events DROP COLUMN management_event;

DROP INDEX ix_role_trusted_principals_principal;

DROP TABLE role_trusted_principals;

DROP TABLE generations;

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0007';

COMMIT;

