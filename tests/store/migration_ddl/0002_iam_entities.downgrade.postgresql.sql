BEGIN;

-- Running downgrade 0002 -> 0001

ALTER TABLE users DROP COLUMN permissions_boundary_arn;

DROP INDEX ix_user_policy_attachments_policy_pk;

DROP TABLE user_policy_attachments;

DROP INDEX ix_role_policy_attachments_policy_pk;

DROP TABLE role_policy_attachments;

DROP INDEX ix_group_policy_attachments_policy_pk;

DROP TABLE group_policy_attachments;

DROP INDEX ix_group_members_user_pk;

DROP TABLE group_members;

DROP INDEX ix_group_inline_policies_group_pk;

DROP TABLE group_inline_policies;

DROP INDEX ix_policy_versions_policy_pk;

DROP TABLE policy_versions;

DROP INDEX ix_groups_account_id;

DROP TABLE groups;

DROP INDEX ix_managed_policies_account_id;

DROP TABLE managed_policies;

UPDATE alembic_version SET version_num='0001' WHERE alembic_version.version_num = '0002';

COMMIT;

