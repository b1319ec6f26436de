-- Running upgrade 0010 -> 0011

ALTER TABLE saml_providers ADD COLUMN metadata_url VARCHAR(2048);

ALTER TABLE saml_providers ADD COLUMN metadata_pin TEXT;

ALTER TABLE saml_providers ADD COLUMN last_fetch_at DATETIME;

ALTER TABLE saml_providers ADD COLUMN last_fetch_error VARCHAR(1000);

ALTER TABLE saml_providers ADD COLUMN next_fetch_at DATETIME;

ALTER TABLE saml_providers ADD COLUMN fetch_failures INTEGER DEFAULT '0' NOT NULL;

UPDATE alembic_version SET version_num='0011' WHERE alembic_version.version_num = '0010';

