BEGIN;

-- Running downgrade 0008 -> 0007

DROP TABLE audit_trail_origin;

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0008';

COMMIT;

