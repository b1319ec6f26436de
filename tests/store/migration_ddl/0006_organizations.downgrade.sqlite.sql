-- Running downgrade 0006 -> 0005

DROP INDEX ix_organization_policy_attachments_target;

DROP INDEX ix_organization_policy_attachments_policy_id;

DROP TABLE organization_policy_attachments;

DROP INDEX ix_organization_policies_organization_id;

DROP TABLE organization_policies;

DROP INDEX ix_organization_create_account_requests_organization_id;

DROP TABLE organization_create_account_requests;

DROP INDEX ix_organization_accounts_parent_id;

DROP INDEX ix_organization_accounts_organization_id;

DROP TABLE organization_accounts;

DROP INDEX ix_organization_nodes_parent_id;

DROP INDEX ix_organization_nodes_organization_id;

DROP TABLE organization_nodes;

DROP TABLE organizations;

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0006';

