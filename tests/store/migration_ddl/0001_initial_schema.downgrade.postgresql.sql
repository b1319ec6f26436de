BEGIN;

-- Running downgrade 0001 -> 

DROP INDEX ix_user_inline_policies_user_pk;

DROP TABLE user_inline_policies;

DROP INDEX ix_role_inline_policies_role_pk;

DROP TABLE role_inline_policies;

DROP INDEX ix_access_keys_user_pk;

DROP TABLE access_keys;

DROP INDEX ix_users_account_id;

DROP TABLE users;

DROP INDEX ix_saml_providers_entity_id;

DROP INDEX ix_saml_providers_account_id;

DROP TABLE saml_providers;

DROP INDEX ix_roles_account_id;

DROP TABLE roles;

DROP INDEX ix_web_sessions_expires_at;

DROP TABLE web_sessions;

DROP INDEX ix_seen_assertions_expires_at;

DROP TABLE seen_assertions;

DROP INDEX ix_saml_requests_expires_at;

DROP TABLE saml_requests;

DROP INDEX ix_audit_events_time;

DROP INDEX ix_audit_events_event_name;

DROP TABLE audit_events;

DROP TABLE accounts;

DELETE FROM alembic_version WHERE alembic_version.version_num = '0001';

COMMIT;

