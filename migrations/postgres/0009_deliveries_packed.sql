-- Payloads compressed by the service (lz4, the stored form SQLite has used since its 0007)
-- instead of sent as text: a 24 KB delivery crossed the connection (TLS on both ends) at full
-- size, PostgreSQL checked its UTF-8 and compressed it again (TOAST). `packed` holds 3-4 KB,
-- stays inline in its heap page (toast_tuple_target, 0008) and is never compressed again
-- (EXTERNAL: already compressed). Rows written before keep their text in `payload`; every
-- row has exactly one of the two (checked for new rows only: validating the old ones would
-- scan the whole table under an exclusive lock, and they all have `payload`).
ALTER TABLE deliveries ADD COLUMN packed BYTEA;
ALTER TABLE deliveries ALTER COLUMN packed SET STORAGE EXTERNAL;
ALTER TABLE deliveries ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE deliveries
    ADD CONSTRAINT deliveries_one_body CHECK ((payload IS NULL) <> (packed IS NULL)) NOT VALID;
