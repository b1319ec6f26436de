-- Running upgrade 0005 -> 0006

CREATE TABLE organizations (
    id VARCHAR(34) NOT NULL, 
    management_account_id VARCHAR(12) NOT NULL, 
    feature_set VARCHAR(32) NOT NULL, 
    created_at DATETIME NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(management_account_id) REFERENCES accounts (id), 
    UNIQUE (management_account_id)
);

CREATE TABLE organization_nodes (
    id VARCHAR(70) NOT NULL, 
    organization_id VARCHAR(34) NOT NULL, 
    kind VARCHAR(32) NOT NULL, 
    name VARCHAR(128) NOT NULL, 
    parent_id VARCHAR(70), 
    path VARCHAR(1024) NOT NULL, 
    policy_types JSON NOT NULL, 
    tags JSON NOT NULL, 
    created_at DATETIME NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(organization_id) REFERENCES organizations (id), 
    FOREIGN KEY(parent_id) REFERENCES organization_nodes (id), 
    UNIQUE (parent_id, name)
);

CREATE INDEX ix_organization_nodes_organization_id ON organization_nodes (organization_id);

CREATE INDEX ix_organization_nodes_parent_id ON organization_nodes (parent_id);

CREATE TABLE organization_accounts (
    account_id VARCHAR(12) NOT NULL, 
    organization_id VARCHAR(34) NOT NULL, 
    parent_id VARCHAR(70) NOT NULL, 
    joined_method VARCHAR(16) NOT NULL, 
    joined_at DATETIME NOT NULL, 
    tags JSON NOT NULL, 
    PRIMARY KEY (account_id), 
    FOREIGN KEY(account_id) REFERENCES accounts (id), 
    FOREIGN KEY(organization_id) REFERENCES organizations (id), 
    FOREIGN KEY(parent_id) REFERENCES organization_nodes (id)
);

CREATE INDEX ix_organization_accounts_organization_id ON organization_accounts (organization_id);

CREATE INDEX ix_organization_accounts_parent_id ON organization_accounts (parent_id);

CREATE TABLE organization_create_account_requests (
    id VARCHAR(40) NOT NULL, 
    organization_id VARCHAR(34) NOT NULL, 
    account_name VARCHAR(50) NOT NULL, 
    state VARCHAR(16) NOT NULL, 
    failure_reason VARCHAR(64), 
    account_id VARCHAR(12), 
    requested_at DATETIME NOT NULL, 
    completed_at DATETIME, 
    PRIMARY KEY (id), 
    FOREIGN KEY(organization_id) REFERENCES organizations (id)
);

CREATE INDEX ix_organization_create_account_requests_organization_id ON organization_create_account_requests (organization_id);

CREATE TABLE organization_policies (
    id VARCHAR(130) NOT NULL, 
    organization_id VARCHAR(34), 
    type VARCHAR(64) NOT NULL, 
    name VARCHAR(128) NOT NULL, 
    description VARCHAR(512) NOT NULL, 
    content TEXT NOT NULL, 
    aws_managed BOOLEAN NOT NULL, 
    tags JSON NOT NULL, 
    created_at DATETIME NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(organization_id) REFERENCES organizations (id), 
    UNIQUE (organization_id, type, name)
);

CREATE INDEX ix_organization_policies_organization_id ON organization_policies (organization_id);

CREATE TABLE organization_policy_attachments (
    organization_id VARCHAR(34) NOT NULL, 
    policy_id VARCHAR(130) NOT NULL, 
    target_id VARCHAR(70) NOT NULL, 
    PRIMARY KEY (organization_id, policy_id, target_id), 
    FOREIGN KEY(organization_id) REFERENCES organizations (id), 
    FOREIGN KEY(policy_id) REFERENCES organization_policies (id)
);

CREATE INDEX ix_organization_policy_attachments_policy_id ON organization_policy_attachments (policy_id);

CREATE INDEX ix_organization_policy_attachments_target ON organization_policy_attachments (organization_id, target_id);

INSERT INTO organization_policies (id, organization_id, type, name, description, content, aws_managed, tags, created_at) VALUES ('p-FullAWSAccess', NULL, 'SERVICE_CONTROL_POLICY', 'FullAWSAccess', 'Allows access to every operation', '{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "*",
      "Resource": "*"
    }
  ]
}', 1, '{}', '2016-11-28 00:00:00.000000');

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005';

