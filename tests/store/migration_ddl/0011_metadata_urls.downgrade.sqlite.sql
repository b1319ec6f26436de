-- Running downgrade 0011 -> 0010

ALTER TABLE saml_providers DROP COLUMN fetch_failures;

ALTER TABLE saml_providers DROP COLUMN next_fetch_at;

ALTER TABLE saml_providers DROP COLUMN last_fetch_error;

ALTER TABLE saml_providers DROP COLUMN last_fetch_at;

ALTER TABLE saml_providers DROP COLUMN metadata_pin;

ALTER TABLE saml_providers DROP COLUMN metadata_url;

UPDATE alembic_version SET version_num='0010' WHERE alembic_version.version_num = '0011';

