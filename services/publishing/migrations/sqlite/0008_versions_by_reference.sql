-- A version row no longer copies the text its document row already holds:
-- a NULL body means "the document's body as it stands", which is true of
-- the current version only. A write that changes the fields first gives
-- such rows the body they had (see `store::change_sql`), so older versions
-- keep their own text. Publishing thus writes a short version row, not a
-- second copy of the body.
--
-- The versions are kept in their primary key's order (WITHOUT ROWID): a
-- version is one entry in one b-tree, not a row and an index entry.
CREATE TABLE document_versions_new (
    document_id TEXT NOT NULL REFERENCES documents (id),
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    doc_number TEXT,
    subject TEXT NOT NULL,
    publisher TEXT NOT NULL,
    date_formed TEXT NOT NULL,
    attribute TEXT NOT NULL,
    withheld_reason TEXT,
    column_code TEXT NOT NULL,
    body TEXT,
    summary TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    valid_until TEXT,
    PRIMARY KEY (document_id, version)
) WITHOUT ROWID;
INSERT INTO document_versions_new (document_id, version, title, doc_number, subject,
    publisher, date_formed, attribute, withheld_reason, column_code, body, summary, reason,
    created_by, created_at, valid_until)
SELECT document_id, version, title, doc_number, subject, publisher, date_formed, attribute,
    withheld_reason, column_code, body, summary, reason, created_by, created_at, valid_until
FROM document_versions;
DROP TABLE document_versions;
ALTER TABLE document_versions_new RENAME TO document_versions;

-- History entries are only ever appended, so the largest id plus one
-- (SQLite's rule without AUTOINCREMENT) keeps them in order; AUTOINCREMENT
-- wrote its counter's page on every entry as well.
CREATE TABLE document_history_new (
    id INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents (id),
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    comment TEXT NOT NULL,
    at INTEGER NOT NULL
);
INSERT INTO document_history_new (id, document_id, action, actor, from_state, to_state,
    comment, at)
SELECT id, document_id, action, actor, from_state, to_state, comment, at
FROM document_history;
DROP TABLE document_history;
ALTER TABLE document_history_new RENAME TO document_history;
CREATE INDEX document_history_doc ON document_history (document_id, id);
