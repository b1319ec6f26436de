BEGIN;

-- Running upgrade 0007 -> 0008

CREATE TABLE audit_trail_origin (
    id SERIAL NOT NULL, 
    genesis_digest_index INTEGER, 
    began_at TIMESTAMP WITH TIME ZONE, 
    PRIMARY KEY (id)
);

INSERT INTO audit_trail_origin (id) VALUES (1);

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0007';

COMMIT;

