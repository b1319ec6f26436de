BEGIN;

-- Running downgrade 0009 -> 0008

DROP INDEX ix_cli_user_code_attempts_expires_at;

DROP TABLE cli_user_code_attempts;

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0009';

COMMIT;

