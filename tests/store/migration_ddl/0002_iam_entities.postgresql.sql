BEGIN;

-- Running upgrade 0001 -> 0002

CREATE TABLE managed_policies (
    id SERIAL NOT NULL, 
    account_id VARCHAR(12) NOT NULL, 
    name VARCHAR(128) NOT NULL, 
    name_key VARCHAR(128) NOT NULL, 
    path VARCHAR(512) NOT NULL, 
    policy_id VARCHAR(32) NOT NULL, 
    arn VARCHAR(2048) NOT NULL, 
    description VARCHAR(1000) NOT NULL, 
    default_version_id VARCHAR(32) NOT NULL, 
    last_version_number INTEGER NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    tags JSON NOT NULL, 
    PRIMARY KEY (id), 
    UNIQUE (account_id, name_key), 
    UNIQUE (arn), 
    UNIQUE (policy_id)
);

CREATE INDEX ix_managed_policies_account_id ON managed_policies (account_id);

CREATE TABLE groups (
    id SERIAL NOT NULL, 
    account_id VARCHAR(12) NOT NULL, 
    name VARCHAR(128) NOT NULL, 
    name_key VARCHAR(128) NOT NULL, 
    path VARCHAR(512) NOT NULL, 
    group_id VARCHAR(32) NOT NULL, 
    arn VARCHAR(2048) NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(account_id) REFERENCES accounts (id), 
    UNIQUE (account_id, name_key), 
    UNIQUE (arn), 
    UNIQUE (group_id)
);

CREATE INDEX ix_groups_account_id ON groups (account_id);

CREATE TABLE policy_versions (
    id SERIAL NOT NULL, 
    policy_pk INTEGER NOT NULL, 
    version_id VARCHAR(32) NOT NULL, 
    number INTEGER NOT NULL, 
    document TEXT NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(policy_pk) REFERENCES managed_policies (id) ON DELETE CASCADE, 
    UNIQUE (policy_pk, version_id)
);

CREATE INDEX ix_policy_versions_policy_pk ON policy_versions (policy_pk);

CREATE TABLE group_inline_policies (
    id SERIAL NOT NULL, 
    group_pk INTEGER NOT NULL, 
    name VARCHAR(128) NOT NULL, 
    document TEXT NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(group_pk) REFERENCES groups (id) ON DELETE CASCADE, 
    UNIQUE (group_pk, name)
);

CREATE INDEX ix_group_inline_policies_group_pk ON group_inline_policies (group_pk);

CREATE TABLE group_members (
    group_pk INTEGER NOT NULL, 
    user_pk INTEGER NOT NULL, 
    PRIMARY KEY (group_pk, user_pk), 
    FOREIGN KEY(group_pk) REFERENCES groups (id) ON DELETE CASCADE, 
    FOREIGN KEY(user_pk) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_group_members_user_pk ON group_members (user_pk);

CREATE TABLE group_policy_attachments (
    group_pk INTEGER NOT NULL, 
    policy_pk INTEGER NOT NULL, 
    PRIMARY KEY (group_pk, policy_pk), 
    FOREIGN KEY(group_pk) REFERENCES groups (id) ON DELETE CASCADE, 
    FOREIGN KEY(policy_pk) REFERENCES managed_policies (id)
);

CREATE INDEX ix_group_policy_attachments_policy_pk ON group_policy_attachments (policy_pk);

CREATE TABLE role_policy_attachments (
    role_pk INTEGER NOT NULL, 
    policy_pk INTEGER NOT NULL, 
    PRIMARY KEY (role_pk, policy_pk), 
    FOREIGN KEY(policy_pk) REFERENCES managed_policies (id), 
    FOREIGN KEY(role_pk) REFERENCES roles (id) ON DELETE CASCADE
);

CREATE INDEX ix_role_policy_attachments_policy_pk ON role_policy_attachments (policy_pk);

CREATE TABLE user_policy_attachments (
    user_pk INTEGER NOT NULL, 
    policy_pk INTEGER NOT NULL, 
    PRIMARY KEY (user_pk, policy_pk), 
    FOREIGN KEY(policy_pk) REFERENCES managed_policies (id), 
    FOREIGN KEY(user_pk) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_user_policy_attachments_policy_pk ON user_policy_attachments (policy_pk);

ALTER TABLE users ADD COLUMN permissions_boundary_arn VARCHAR(2048);

INSERT INTO managed_policies (account_id, name, name_key, path, policy_id, arn, description, default_version_id, last_version_number, created_at, updated_at, tags) VALUES ('aws', 'AdministratorAccess', 'administratoraccess', '/', 'ANPAW7KZSV746XMG6LD2D', 'arn:aws:iam::aws:policy/AdministratorAccess', 'Provides full access to AWS services and resources.', 'v1', 1, '2015-02-06 18:39:46+00:00', '2015-02-06 18:39:46+00:00', '{}');

SELECT managed_policies.id 
FROM managed_policies 
WHERE managed_policies.arn = 'arn:aws:iam::aws:policy/AdministratorAccess';

INSERT INTO policy_versions (policy_pk, version_id, number, document, created_at) VALUES (1, 'v1', 1, '{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*"
        }
    ]
}', '2015-02-06 18:39:46+00:00');

INSERT INTO managed_policies (account_id, name, name_key, path, policy_id, arn, description, default_version_id, last_version_number, created_at, updated_at, tags) VALUES ('aws', 'ReadOnlyAccess', 'readonlyaccess', '/', 'ANPA7T53ZA3UDCYD5ZLDU', 'arn:aws:iam::aws:policy/ReadOnlyAccess', 'Provides read-only access to AWS services and resources.', 'v1', 1, '2015-02-06 18:39:46+00:00', '2015-02-06 18:39:46+00:00', '{}');

SELECT managed_policies.id 
FROM managed_policies 
WHERE managed_policies.arn = 'arn:aws:iam::aws:policy/ReadOnlyAccess';

INSERT INTO policy_versions (policy_pk, version_id, number, document, created_at) VALUES (2, 'v1', 1, '{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ReadOnlyActions",
            "Effect": "Allow",
            "Action": [
                "*:BatchGet*",
                "*:Describe*",
                "*:Get*",
                "*:List*",
                "iam:GenerateCredentialReport",
                "iam:GenerateServiceLastAccessedDetails",
                "iam:SimulateCustomPolicy",
                "iam:SimulatePrincipalPolicy",
                "sts:GetAccessKeyInfo",
                "sts:GetCallerIdentity",
                "sts:GetSessionToken"
            ],
            "Resource": "*"
        }
    ]
}', '2015-02-06 18:39:46+00:00');

INSERT INTO managed_policies (account_id, name, name_key, path, policy_id, arn, description, default_version_id, last_version_number, created_at, updated_at, tags) VALUES ('aws', 'IAMFullAccess', 'iamfullaccess', '/', 'ANPADRDEDFGHWVC7KFSQG', 'arn:aws:iam::aws:policy/IAMFullAccess', 'Provides full access to IAM via the AWS Management Console.', 'v1', 1, '2015-02-06 18:39:46+00:00', '2015-02-06 18:39:46+00:00', '{}');

SELECT managed_policies.id 
FROM managed_policies 
WHERE managed_policies.arn = 'arn:aws:iam::aws:policy/IAMFullAccess';

INSERT INTO policy_versions (policy_pk, version_id, number, document, created_at) VALUES (3, 'v1', 1, '{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "iam:*",
                "organizations:DescribeAccount",
                "organizations:DescribeOrganization",
                "organizations:DescribeOrganizationalUnit",
                "organizations:DescribePolicy",
                "organizations:ListChildren",
                "organizations:ListParents",
                "organizations:ListPoliciesForTarget",
                "organizations:ListRoots",
                "organizations:ListPolicies",
                "organizations:ListTargetsForPolicy"
            ],
            "Resource": "*"
        }
    ]
}', '2015-02-06 18:39:46+00:00');

INSERT INTO managed_policies (account_id, name, name_key, path, policy_id, arn, description, default_version_id, last_version_number, created_at, updated_at, tags) VALUES ('aws', 'IAMReadOnlyAccess', 'iamreadonlyaccess', '/', 'ANPAEDQ2UXPS7T3FOTNEO', 'arn:aws:iam::aws:policy/IAMReadOnlyAccess', 'Provides read only access to IAM via the AWS Management Console.', 'v1', 1, '2015-02-06 18:39:46+00:00', '2015-02-06 18:39:46+00:00', '{}');

SELECT managed_policies.id 
FROM managed_policies 
WHERE managed_policies.arn = 'arn:aws:iam::aws:policy/IAMReadOnlyAccess';

INSERT INTO policy_versions (policy_pk, version_id, number, document, created_at) VALUES (4, 'v1', 1, '{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "iam:GenerateCredentialReport",
                "iam:GenerateServiceLastAccessedDetails",
                "iam:Get*",
                "iam:List*",
                "iam:SimulateCustomPolicy",
                "iam:SimulatePrincipalPolicy"
            ],
            "Resource": "*"
        }
    ]
}', '2015-02-06 18:39:46+00:00');

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

COMMIT;

