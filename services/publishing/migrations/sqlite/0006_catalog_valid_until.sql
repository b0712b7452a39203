-- The subtree catalogue keeps each document's last day in force as its
-- events carry it; empty: no end given.
ALTER TABLE subtree_catalog ADD COLUMN valid_until TEXT NOT NULL DEFAULT '';
