CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    unit TEXT NOT NULL,
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    title TEXT NOT NULL,
    doc_number TEXT,
    subject TEXT NOT NULL,
    publisher TEXT NOT NULL,
    date_formed TEXT NOT NULL,
    attribute TEXT NOT NULL,
    withheld_reason TEXT,
    column_code TEXT NOT NULL,
    body TEXT NOT NULL,
    summary TEXT NOT NULL,
    index_no TEXT,
    date_published TEXT,
    validity TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    interprets TEXT,
    interpretation TEXT,
    confidential_findings TEXT NOT NULL,
    timeliness_days BIGINT,
    late BIGINT NOT NULL,
    timeliness_provisional BIGINT NOT NULL,
    abolished_on TEXT,
    abolish_reason TEXT,
    search_seq BIGINT NOT NULL
);
CREATE UNIQUE INDEX documents_doc_number ON documents (unit, doc_number);
CREATE UNIQUE INDEX documents_index_no ON documents (unit, index_no);
CREATE INDEX documents_unit_state ON documents (unit, state, updated_at);
CREATE INDEX documents_search_seq ON documents (search_seq);

-- Every published version, kept for the history.
CREATE TABLE document_versions (
    document_id TEXT NOT NULL REFERENCES documents (id),
    version BIGINT NOT NULL,
    title TEXT NOT NULL,
    doc_number TEXT,
    subject TEXT NOT NULL,
    publisher TEXT NOT NULL,
    date_formed TEXT NOT NULL,
    attribute TEXT NOT NULL,
    withheld_reason TEXT,
    column_code TEXT NOT NULL,
    body TEXT NOT NULL,
    summary TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (document_id, version)
);

-- Who did what, when and why.
CREATE TABLE document_history (
    id BIGSERIAL PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents (id),
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    comment TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX document_history_doc ON document_history (document_id, id);

-- Next index-number sequence per unit, year (and column when the format
-- names it); advanced inside the publishing transaction, so no gaps.
CREATE TABLE index_counters (
    unit TEXT NOT NULL,
    year BIGINT NOT NULL,
    scope TEXT NOT NULL,
    next_seq BIGINT NOT NULL,
    PRIMARY KEY (unit, year, scope)
);

-- Monotonic counters (the search index watermark).
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('search', 0);

-- Columns a unit adds to the default catalogue.
CREATE TABLE custom_columns (
    unit TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    parent TEXT NOT NULL,
    policy BIGINT NOT NULL,
    interpretation BIGINT NOT NULL,
    report_kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (unit, code)
);

-- The subtree's catalogue, built from the children's document events.
CREATE TABLE subtree_catalog (
    document_id TEXT PRIMARY KEY,
    unit TEXT NOT NULL,
    unit_name TEXT NOT NULL,
    index_no TEXT NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    date_formed TEXT NOT NULL,
    date_published TEXT NOT NULL,
    validity TEXT NOT NULL,
    column_code TEXT NOT NULL,
    version BIGINT NOT NULL,
    event_time BIGINT NOT NULL
);
CREATE INDEX subtree_catalog_unit ON subtree_catalog (unit, date_published);
