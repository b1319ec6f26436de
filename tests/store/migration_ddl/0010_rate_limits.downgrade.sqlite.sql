-- Running downgrade 0010 -> 0009

DROP TABLE rate_limit_buckets;

UPDATE alembic_version SET version_num='0009' WHERE alembic_version.version_num = '0010';

