-- Running downgrade 0013 -> 0012

ALTER TABLE accounts DROP COLUMN closed_at;

DROP INDEX ix_organization_handshakes_target_account_id;

DROP INDEX ix_organization_handshakes_target;

DROP INDEX ix_organization_handshakes_organization_id;

DROP TABLE organization_handshakes;

DROP INDEX ix_service_specific_credentials_user_pk;

DROP TABLE service_specific_credentials;

DROP INDEX ix_service_linked_role_deletions_account_id;

DROP TABLE service_linked_role_deletions;

DROP INDEX ix_instance_profile_roles_role_pk;

DROP TABLE instance_profile_roles;

DROP INDEX ix_instance_profiles_account_id;

DROP TABLE instance_profiles;

UPDATE alembic_version SET version_num='0012' WHERE alembic_version.version_num = '0013';

