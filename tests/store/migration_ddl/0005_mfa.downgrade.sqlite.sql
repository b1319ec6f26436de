-- Running downgrade 0005 -> 0004

DROP INDEX ix_mfa_devices_user_pk;

DROP INDEX ix_mfa_devices_account_id;

DROP TABLE mfa_devices;

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0005';

