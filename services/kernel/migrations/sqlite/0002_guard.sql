-- Never holds a row. A batch of statements that must stop when a check
-- fails (a row was not as expected) inserts a NULL here only then; the
-- NOT NULL constraint refuses it, and its conflict clause decides whether
-- the statement alone (OR ABORT) or the whole transaction (OR ROLLBACK) is
-- undone. SQLite has no other way for plain SQL to raise an error.
CREATE TABLE gk_guard (ok INTEGER NOT NULL);
