-- Events waiting for the relay, written in the same transaction as the
-- state change that caused them (transactional outbox).
CREATE TABLE gk_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    payload BLOB NOT NULL,
    traceparent TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);
CREATE INDEX gk_outbox_unsent ON gk_outbox (id) WHERE sent_at IS NULL;

-- Event ids each consumer has applied, so that redelivery has no second effect.
CREATE TABLE gk_processed_events (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    processed_at INTEGER NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
