-- A version row no longer copies the text its document row already holds:
-- a NULL body means "the document's body as it stands", which is true of
-- the current version only. A write that changes the fields first gives
-- such rows the body they had (see `store::change_sql`), so older versions
-- keep their own text. Publishing thus stores no second copy of the body
-- in the versions' TOAST table.
ALTER TABLE document_versions ALTER COLUMN body DROP NOT NULL;
