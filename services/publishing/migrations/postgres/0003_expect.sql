-- Raises serialization_failure (40001) unless `ok`. A statement that wrote
-- on the strength of expected counter values and document versions ends
-- with it, so that when they were not as expected the whole statement
-- (outside any transaction: its own) is undone and the caller retries the
-- slow way.
CREATE FUNCTION gk_expect(ok boolean) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'counters or documents changed since they were read'
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN true;
END
$$;
