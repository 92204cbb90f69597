-- A version-1 trigger database as tickwork 0.1 (Part 1) made it on PostgreSQL:
-- its CREATE TABLE statements, version row and the rows of triggers-v1.sqlite.
CREATE TABLE tickwork_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE tickwork_triggers (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    interval text NOT NULL,
    enabled boolean NOT NULL,
    last_fired_at text
);
INSERT INTO tickwork_meta VALUES ('schema_version', '1');
INSERT INTO tickwork_triggers VALUES
    ('07e94e741e2c44319af9e76babd5f735', 'refresh-prices', '15m', true, '2026-11-23T12:00:00Z'),
    ('fb15a640173d4bffa46a689aef5b51d1', 'nightly-export', '1d', false, NULL),
    ('2e19ec7184e04d4188362ff9b65c72c9', 'never-fired', '1h30m', true, NULL),
    ('ad4ca6d9879b4546bdce251319c6061e', 'hourly', '1h', true, '2026-11-23T11:30:00.250000Z');
