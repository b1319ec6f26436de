BEGIN;

-- Running downgrade 0003 -> 0002

DROP INDEX ix_cli_sessions_web_session_hash;

DROP INDEX ix_cli_sessions_grant_ref;

DROP INDEX ix_cli_sessions_expires_at;

DROP TABLE cli_sessions;

DROP INDEX ix_device_authorizations_expires_at;

DROP TABLE device_authorizations;

DROP INDEX ix_cli_authorizations_expires_at;

DROP TABLE cli_authorizations;

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0003';

COMMIT;

