#!/usr/bin/env python3
"""Log frames (pages) one publication writes on SQLite, by table and index.

A model, not the service: it applies the real SQLite migrations of the
kernel and of publishing to a fresh file, fills it with approved documents
the size of the publish benchmark's, and then runs, per publication, the
statements the group writer sends for one document (counters, the
document's row, its version, its history entry, its outbox row), with the
relay's marks once per 50 publications as its lazy marking leaves them.
Checkpoints are off, so every page written stays in the log as a frame;
each frame's page number is then looked up in `dbstat`.

Variants change the schema the way a candidate change would and show what
it saves:

    watermark    the relay keeps one watermark row instead of marking each
                 outbox row and indexing the unsent ones
    one-counter  the search counter is a row of the index-number counters'
                 table, so both live on one page
    history-key  history entries keyed by (document, entry number) in one
                 b-tree instead of a row and an index entry

    python3 tests/benches/wal_frames.py [variant ...]

It prints frames per publication and the mean time of one publication's
transaction in Python's `sqlite3` (which runs SQLite with little around it;
the figure moves with the machine's hour, the frames do not).
"""

import collections
import glob
import itertools
import os
import sqlite3
import struct
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
MIGRATIONS = sorted(glob.glob(os.path.join(ROOT, "services/kernel/migrations/sqlite/*.sql"))) + sorted(
    glob.glob(os.path.join(ROOT, "services/publishing/migrations/sqlite/*.sql"))
)
VARIANTS = {"watermark", "one-counter", "history-key"}
DOCUMENTS = 3000
PUBLICATIONS = 1000
MARK_EVERY = 50
UNIT = "cn/ah/wh/nl/jyj"
# 3.3 KB of UTF-8, a little more than the publish benchmark's 2.9 KB body:
# either way one document's row fills most of a 4 KB page.
BODY = "认真贯彻落实政府信息公开条例，围绕群众关切和教育重点工作，扎实推进政务公开标准化规范化建设。" * 24
SUMMARY = BODY[:120]

_counter = itertools.count()


def time_ordered_id():
    """A UUIDv7-like id: document and event ids grow with time, as the service's do."""
    t = int(time.time() * 1000) << 16 | next(_counter) & 0xFFFF
    h = "%016x" % t + os.urandom(8).hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:32])


def history(c, variant, doc, action, from_state, to_state, at):
    if "history-key" in variant:
        c.execute(
            "INSERT INTO document_history (document_id, n, action, actor, from_state, to_state, comment, at) "
            "VALUES (?, (SELECT COALESCE(MAX(n), 0) + 1 FROM document_history WHERE document_id = ?), "
            "?, 'editor', ?, ?, '', ?)",
            (doc, doc, action, from_state, to_state, at),
        )
    else:
        c.execute(
            "INSERT INTO document_history (document_id, action, actor, from_state, to_state, comment, at) "
            "VALUES (?, ?, 'editor', ?, ?, '', ?)",
            (doc, action, from_state, to_state, at),
        )


def main(variant):
    unknown = variant - VARIANTS
    if unknown:
        sys.exit("unknown variant(s) %s; known: %s" % (", ".join(sorted(unknown)), ", ".join(sorted(VARIANTS))))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "publishing.db")
        c = sqlite3.connect(path, isolation_level=None)
        c.execute("PRAGMA journal_mode = WAL")
        c.execute("PRAGMA synchronous = NORMAL")
        c.execute("PRAGMA foreign_keys = ON")
        for m in MIGRATIONS:
            with open(m, encoding="utf-8") as f:
                c.executescript(f.read())
        if "watermark" in variant:
            c.executescript(
                "DROP INDEX gk_outbox_unsent; "
                "CREATE TABLE gk_outbox_relayed (k INTEGER PRIMARY KEY, last INTEGER NOT NULL); "
                "INSERT INTO gk_outbox_relayed VALUES (1, 0);"
            )
        if "history-key" in variant:
            c.executescript(
                "DROP TABLE document_history; "
                "CREATE TABLE document_history (document_id TEXT NOT NULL, n INTEGER NOT NULL, "
                "action TEXT NOT NULL, actor TEXT NOT NULL, from_state TEXT NOT NULL, "
                "to_state TEXT NOT NULL, comment TEXT NOT NULL, at INTEGER NOT NULL, "
                "PRIMARY KEY (document_id, n)) WITHOUT ROWID;"
            )

        ids = []
        c.execute("BEGIN")
        c.execute("INSERT INTO index_counters VALUES (?, 2026, '', 1)", (UNIT,))
        if "one-counter" in variant:
            c.execute("INSERT INTO index_counters VALUES ('', 0, 'search', 1)")
        for i in range(DOCUMENTS):
            doc = time_ordered_id()
            ids.append(doc)
            c.execute(
                "INSERT INTO documents (id, unit, state, version, title, doc_number, subject, publisher, "
                "date_formed, attribute, withheld_reason, column_code, body, summary, index_no, "
                "date_published, validity, created_by, created_at, updated_at, interprets, interpretation, "
                "confidential_findings, timeliness_days, late, timeliness_provisional, abolished_on, "
                "abolish_reason, search_seq) VALUES (?, ?, 'approved', 0, ?, NULL, '教育', '南陵县教育局', "
                "'2026-11-02', 'proactive', NULL, 'gzzj', ?, ?, NULL, NULL, 'valid', 'editor', 1, 2, NULL, "
                "NULL, '[]', NULL, 0, 0, NULL, NULL, 0)",
                (doc, UNIT, "关于第%d号工作总结的通知" % i, BODY, SUMMARY),
            )
            history(c, variant, doc, "create", "", "draft", 1)
            history(c, variant, doc, "submit", "draft", "submitted", 1)
            history(c, variant, doc, "approve", "submitted", "approved", 2)
        c.execute("COMMIT")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.execute("PRAGMA wal_autocheckpoint = 0")

        payload = os.urandom(900)
        started = time.perf_counter()
        for i in range(PUBLICATIONS):
            doc = ids[i]
            c.execute("BEGIN IMMEDIATE")
            if "one-counter" in variant:
                c.execute(
                    "UPDATE index_counters SET next_seq = ? WHERE unit = '' AND year = 0 "
                    "AND scope = 'search' AND next_seq = ?",
                    (i + 2, i + 1),
                )
            else:
                c.execute("UPDATE counters SET value = ? WHERE name = 'search' AND value = ?", (i + 1, i))
            c.execute(
                "UPDATE index_counters SET next_seq = ? WHERE unit = ? AND year = 2026 AND scope = '' "
                "AND next_seq = ?",
                (i + 2, UNIT, i + 1),
            )
            c.execute(
                "UPDATE documents SET state = 'published', version = 1, index_no = ?, "
                "date_published = '2026-12-07', validity = 'valid', updated_at = 3, interprets = NULL, "
                "interpretation = NULL, confidential_findings = '[]', timeliness_days = 25, late = 1, "
                "timeliness_provisional = 0, abolished_on = NULL, abolish_reason = NULL, search_seq = ? "
                "WHERE id = ? AND state = 'approved' AND updated_at = 2",
                ("003159085/2026-%05d" % (i + 1), i + 1, doc),
            )
            assert c.execute("SELECT changes()").fetchone()[0] == 1
            c.execute(
                "INSERT INTO document_versions (document_id, version, title, doc_number, subject, publisher, "
                "date_formed, attribute, withheld_reason, column_code, summary, valid_until, reason, "
                "created_by, created_at) SELECT id, version, title, doc_number, subject, publisher, "
                "date_formed, attribute, withheld_reason, column_code, summary, valid_until, 'published', "
                "'reviewer', 4 FROM documents WHERE id = ?",
                (doc,),
            )
            history(c, variant, doc, "publish", "approved", "published", 5)
            c.execute(
                "INSERT INTO gk_outbox (event_id, subject, payload, traceparent, created_at) "
                "VALUES (?, ?, ?, ?, 6)",
                (
                    time_ordered_id(),
                    "gk.cn.ah.wh.nl.jyj.publishing.document.published",
                    payload,
                    "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
                ),
            )
            c.execute("COMMIT")
            if i % MARK_EVERY == MARK_EVERY - 1:
                if "watermark" in variant:
                    c.execute("UPDATE gk_outbox_relayed SET last = (SELECT MAX(id) FROM gk_outbox) WHERE k = 1")
                else:
                    c.execute("UPDATE gk_outbox SET sent_at = 7 WHERE sent_at IS NULL")
        elapsed = time.perf_counter() - started

        page_size = c.execute("PRAGMA page_size").fetchone()[0]
        with open(path + "-wal", "rb") as f:
            wal = f.read()
        frames = (len(wal) - 32) // (page_size + 24)
        owner = {}
        for name, pageno, pagetype in c.execute("SELECT name, pageno, pagetype FROM dbstat"):
            owner[pageno] = name + (" (overflow)" if pagetype == "overflow" else "")
        by_owner = collections.Counter()
        for n in range(frames):
            offset = 32 + n * (page_size + 24)
            page = struct.unpack(">I", wal[offset : offset + 4])[0]
            by_owner[owner.get(page, "freelist")] += 1
        c.close()

    label = " + ".join(sorted(variant)) or "as migrated"
    print(
        "%s: %.2f frames per publication, %.0f µs per publication's transaction"
        % (label, frames / PUBLICATIONS, elapsed / PUBLICATIONS * 1e6)
    )
    for name, n in by_owner.most_common():
        print("  %-32s %.2f" % (name, n / PUBLICATIONS))


if __name__ == "__main__":
    main(set(sys.argv[1:]))
