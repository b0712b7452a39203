-- Documents whose timeliness rests on a year without calendar data
-- (RULES §6): looked up at every start, recomputed once the year's file is
-- there, and then gone from this index.
CREATE INDEX documents_timeliness_provisional ON documents (unit, id)
    WHERE timeliness_provisional = 1;
