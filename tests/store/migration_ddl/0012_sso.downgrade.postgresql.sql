BEGIN;

-- Running downgrade 0012 -> 0011

DROP INDEX ix_sso_access_tokens_session_id;

DROP INDEX ix_sso_access_tokens_expires_at;

DROP TABLE sso_access_tokens;

DROP INDEX ix_sso_sessions_grant_ref;

DROP INDEX ix_sso_sessions_expires_at;

DROP INDEX ix_sso_sessions_client_id;

DROP TABLE sso_sessions;

DROP INDEX ix_sso_authorizations_expires_at;

DROP INDEX ix_sso_authorizations_client_id;

DROP TABLE sso_authorizations;

DROP INDEX ix_sso_clients_expires_at;

DROP TABLE sso_clients;

UPDATE alembic_version SET version_num='0011' WHERE alembic_version.version_num = '0012';

COMMIT;

