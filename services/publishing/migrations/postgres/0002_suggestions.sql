-- Art. 44: information many applicants asked for, suggested by the requests
-- service for proactive disclosure and shown to the unit's editors.
CREATE TABLE disclosure_suggestions (
    event_id TEXT PRIMARY KEY,
    unit TEXT NOT NULL,
    description TEXT NOT NULL,
    applicants BIGINT NOT NULL,
    period_days BIGINT NOT NULL,
    tracking_nos TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX disclosure_suggestions_unit ON disclosure_suggestions (unit, at);
