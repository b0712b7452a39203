-- Policy documents published ahead of their interpretation where a lag is
-- allowed (RULES §1). The scheduler finds them through this index and
-- judges each once the interpretation is released or overdue; the
-- judgement is kept below so that it is made, and reported, once.
CREATE INDEX documents_with_interpretation ON documents (unit, id)
    WHERE interpretation IS NOT NULL;

CREATE TABLE interpretation_checks (
    policy_id TEXT PRIMARY KEY REFERENCES documents (id),
    interpretation_id TEXT NOT NULL,
    due_on TEXT NOT NULL,
    -- NULL: judged overdue while still unreleased.
    released_on TEXT,
    -- on_time or late
    outcome TEXT NOT NULL,
    decided_at BIGINT NOT NULL
);
