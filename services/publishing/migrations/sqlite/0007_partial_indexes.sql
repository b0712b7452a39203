-- Only what can be looked up is indexed: index numbers and 文号 once a
-- document has them, search positions once it has been public. Before,
-- every draft sat in these indexes under NULL or 0, and each publication
-- had to take its entry out of that long run and put it back elsewhere:
-- several pages written per index on a write that touches little else.
DROP INDEX documents_doc_number;
CREATE UNIQUE INDEX documents_doc_number ON documents (unit, doc_number)
    WHERE doc_number IS NOT NULL;
DROP INDEX documents_index_no;
CREATE UNIQUE INDEX documents_index_no ON documents (unit, index_no)
    WHERE index_no IS NOT NULL;
DROP INDEX documents_search_seq;
CREATE INDEX documents_search_seq ON documents (search_seq) WHERE search_seq > 0;
