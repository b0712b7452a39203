-- 有效期至: the last day a document is in force, when it says so
-- (normative documents commonly run for five years); the day after, a
-- published document's validity becomes 'expired'. Versions keep it as
-- they keep the other fields. The index finds what is due to expire.
ALTER TABLE documents ADD COLUMN valid_until TEXT;
ALTER TABLE document_versions ADD COLUMN valid_until TEXT;
CREATE INDEX documents_expiring ON documents (unit, valid_until)
    WHERE validity = 'valid' AND valid_until IS NOT NULL;
