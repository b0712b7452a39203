-- Disclosure requests. Applicant identity and contact live here and nowhere
-- else: never in events, logs or anything a parent node receives.
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    unit TEXT NOT NULL,
    tracking_no TEXT NOT NULL UNIQUE,
    query_code_hash TEXT NOT NULL,
    applicant_type TEXT NOT NULL,
    applicant_name TEXT NOT NULL,
    id_type TEXT NOT NULL,
    id_number TEXT NOT NULL,
    phone TEXT NOT NULL,
    email TEXT NOT NULL,
    address TEXT NOT NULL,
    description TEXT NOT NULL,
    delivery_form TEXT NOT NULL,
    channel TEXT NOT NULL,
    received_on TEXT NOT NULL,
    status TEXT NOT NULL,
    -- The domain state (clock events, fee, reply) as JSON; the columns
    -- below repeat what queries filter and sort on.
    state_json TEXT NOT NULL,
    open BIGINT NOT NULL,
    due_kind TEXT,
    due_on TEXT,
    due_provisional BIGINT NOT NULL,
    reply_category TEXT,
    replied_on TEXT,
    concluded_on TEXT,
    reply_json TEXT,
    fee_basis TEXT,
    fee_yuan BIGINT NOT NULL,
    fee_paid_on TEXT,
    extended BIGINT NOT NULL,
    applicant_key TEXT NOT NULL,
    info_key TEXT NOT NULL,
    suggested_category TEXT NOT NULL,
    duplicate_of TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- The office's queues: open requests by due date, oldest first.
CREATE INDEX requests_queue ON requests (unit, due_on, id) WHERE open = 1;
CREATE INDEX requests_applicant ON requests (unit, applicant_key, received_on);
CREATE INDEX requests_info ON requests (unit, info_key, received_on);
CREATE INDEX requests_received ON requests (unit, received_on);

CREATE TABLE request_transitions (
    id BIGSERIAL PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (id),
    action TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    day TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX request_transitions_request ON request_transitions (request_id, id);

CREATE TABLE appeals (
    id BIGSERIAL PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (id),
    unit TEXT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    filed_on TEXT NOT NULL,
    decided_on TEXT NOT NULL,
    note TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX appeals_unit ON appeals (unit, filed_on);

-- Tracking-number sequences per unit and year.
CREATE TABLE tracking_counters (
    unit TEXT NOT NULL,
    year BIGINT NOT NULL,
    next_seq BIGINT NOT NULL,
    PRIMARY KEY (unit, year)
);

-- Due-soon and overdue notices already sent, so the scheduler sends each once.
CREATE TABLE due_notices (
    request_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    due_on TEXT NOT NULL,
    level TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (request_id, kind, due_on, level)
);

-- Art. 44 suggestions: the last one per information key. The upsert in
-- record_suggestion takes this row's lock, so concurrent requests for the same
-- information make one suggestion per period.
CREATE TABLE proactive_suggestions (
    unit TEXT NOT NULL,
    info_key TEXT NOT NULL,
    suggested_on TEXT NOT NULL,
    applicants BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (unit, info_key)
);
