-- The outbox without AUTOINCREMENT, whose counter row was one more page
-- written by every transaction that enqueues an event. Ids must still
-- only grow (the relay reads after the last id it has seen): SQLite gives
-- a new row the largest id plus one, and the prune never deletes the
-- newest row (`outbox::prune`), so no id is given twice.
--
-- Event ids are time-ordered UUIDs made by `outbox::prepare`, never taken
-- from outside, and JetStream drops a second message with one it has seen;
-- an index to refuse duplicates here was one more page per transaction.
CREATE TABLE gk_outbox_new (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    payload BLOB NOT NULL,
    traceparent TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);
INSERT INTO gk_outbox_new (id, event_id, subject, payload, traceparent, created_at, sent_at)
SELECT id, event_id, subject, payload, traceparent, created_at, sent_at FROM gk_outbox;
DROP TABLE gk_outbox;
ALTER TABLE gk_outbox_new RENAME TO gk_outbox;
CREATE INDEX gk_outbox_unsent ON gk_outbox (id) WHERE sent_at IS NULL;
