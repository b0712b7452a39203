//! Full-text search over published government documents (主动公开检索).
//!
//! Text is indexed as overlapping CJK bigrams plus single characters, and
//! runs of letters/digits as lower-cased words, all positioned by character
//! offset. Jieba segments the *query*: each segmented word becomes a term
//! (one or two characters) or an exact bigram phrase (three or more), and
//! all words must match. Indexing bigrams instead of jieba words means a
//! two-character word such as 公开 is found inside 政务公开 or 公开透明 no
//! matter how jieba would segment the document in context.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{Datelike, NaiveDate};
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument,
    Term,
};

/// Name under which [`CjkTokenizer`] is registered; stored in the schema, so
/// renaming it makes existing indexes unreadable.
const TOKENIZER: &str = "gongkai_cjk";

/// Split between the indexing threads; large enough that a bulk load of a
/// million documents produces a few dozen segments rather than hundreds.
const WRITER_MEMORY_BUDGET: usize = 150_000_000;

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;
/// Deep pages cost a heap of `offset + limit` entries per segment; nobody
/// pages through ten thousand results by hand.
const MAX_RESULT_WINDOW: usize = 10_000;
const MAX_QUERY_CHARS: usize = 100;
const MAX_QUERY_WORDS: usize = 32;

/// Title hits must outrank body hits even though body BM25 sees higher term
/// frequencies.
const TITLE_BOOST: f32 = 3.0;

/// `max_num_chars` of tantivy's snippet generator counts bytes; a CJK
/// character is three bytes in UTF-8, so this is about 120 characters.
const SNIPPET_MAX_BYTES: usize = 360;
/// Length of the plain excerpt shown when only the title matched.
const EXCERPT_CHARS: usize = 120;

const WATERMARK_PREFIX: &str = "watermark=";

/// Single characters that carry no meaning on their own; dropped from
/// multi-word queries so "政务公开的通知" does not require a separate 的.
const STOP_CHARS: &[char] = &[
    '的', '了', '和', '与', '及', '或', '之', '等', '也', '而', '并', '其',
];

#[derive(Debug, Clone)]
pub struct IndexedDoc {
    /// Document id (UUID string), unique key.
    pub id: String,
    /// Unit path, e.g. "340823.edu".
    pub unit: String,
    /// e.g. "11340823MB0000000X/2026-00013".
    pub index_no: String,
    pub title: String,
    /// 文号, may be empty.
    pub doc_number: String,
    /// Column code, e.g. "gzzj".
    pub column: String,
    /// 发布机构.
    pub publisher: String,
    pub published_on: NaiveDate,
    /// "valid" | "abolished" | "expired".
    pub validity: String,
    pub body: String,
}

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Plain words separated by spaces; all must match. May be empty when a
    /// filter is given, which lists the matching documents newest first.
    pub text: String,
    pub column: Option<String>,
    /// Year of `published_on`.
    pub year: Option<i32>,
    pub validity: Option<String>,
    pub publisher: Option<String>,
    /// Matches the unit and every unit below it ("340823" matches "340823.edu").
    pub unit: Option<String>,
    /// Results past the first 10,000 come back empty; `total` stays exact.
    pub offset: usize,
    /// 0 means the default of 10; capped at 100.
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub struct SearchHit {
    pub id: String,
    pub unit: String,
    pub index_no: String,
    pub title: String,
    pub column: String,
    pub publisher: String,
    pub published_on: NaiveDate,
    pub validity: String,
    /// BM25 score; 0 when listing by filters only.
    pub score: f32,
    /// The title, HTML-escaped, with matches wrapped in `<em>`.
    pub title_html: String,
    /// About 120 characters of the body around the best match, HTML-escaped,
    /// with matches wrapped in `<em>`.
    pub snippet_html: String,
}

#[derive(Debug, Clone)]
pub struct SearchPage {
    /// Number of documents matching the query, not just this page.
    pub total: usize,
    pub hits: Vec<SearchHit>,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("query.text: {0}")]
    BadQuery(String),
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index: {0}")]
    Dir(String),
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    /// Indexed only: the title plus 文号 and 索引号, so both can be searched
    /// as text and rank like a title hit.
    title: Field,
    title_stored: Field,
    body: Field,
    unit: Field,
    unit_path: Field,
    index_no: Field,
    column: Field,
    publisher: Field,
    validity: Field,
    year: Field,
    /// Days since 0001-01-01, fast for newest-first listing.
    published: Field,
}

fn build_schema() -> (Schema, Fields) {
    let mut sb = Schema::builder();
    let text_indexing = TextFieldIndexing::default()
        .set_tokenizer(TOKENIZER)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let fields = Fields {
        id: sb.add_text_field("id", STRING | STORED),
        title: sb.add_text_field(
            "title",
            TextOptions::default().set_indexing_options(text_indexing.clone()),
        ),
        title_stored: sb.add_text_field("title_stored", STORED),
        body: sb.add_text_field(
            "body",
            TextOptions::default()
                .set_indexing_options(text_indexing)
                .set_stored(),
        ),
        unit: sb.add_text_field("unit", STORED),
        unit_path: sb.add_text_field("unit_path", STRING),
        index_no: sb.add_text_field("index_no", STRING | STORED),
        column: sb.add_text_field("column", STRING | STORED),
        publisher: sb.add_text_field("publisher", STRING | STORED),
        validity: sb.add_text_field("validity", STRING | STORED),
        year: sb.add_i64_field("year", INDEXED),
        published: sb.add_i64_field("published", FAST | STORED),
    };
    (sb.build(), fields)
}

/// Full-text index of published documents. Cheap to share behind an `Arc`:
/// searches only touch the shared reader, writes serialize on one writer.
pub struct SearchIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    watermark: AtomicI64,
    dirty: AtomicBool,
    commits: AtomicU64,
}

impl fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchIndex")
            .field("watermark", &self.watermark())
            .field("num_docs", &self.num_docs())
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens the index stored in `dir`, creating the directory and an empty
    /// index if missing. Only one `SearchIndex` may hold a directory at a
    /// time (tantivy's writer lock).
    pub fn open_in_dir(dir: &Path) -> Result<Self, SearchError> {
        Self::open_in_dir_with_nice(dir, 0)
    }

    /// As [`open_in_dir`](Self::open_in_dir), with tokenizing, segment
    /// writing and merging at CPU priority `indexing_nice` (0 to 19): when
    /// calls and indexing compete for the cores, indexing waits and catches
    /// up after. Searches keep the caller's priority.
    pub fn open_in_dir_with_nice(dir: &Path, indexing_nice: i32) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| SearchError::Dir(format!("{}: {e}", dir.display())))?;
        let mmap = MmapDirectory::open(dir)
            .map_err(|e| SearchError::Dir(format!("{}: {e}", dir.display())))?;
        let (schema, fields) = build_schema();
        let index = Index::open_or_create(mmap, schema)?;
        Self::from_index(index, fields, indexing_nice)
    }

    pub fn open_in_ram() -> Result<Self, SearchError> {
        let (schema, fields) = build_schema();
        Self::from_index(Index::create_in_ram(schema), fields, 0)
    }

    fn from_index(
        mut index: Index,
        fields: Fields,
        indexing_nice: i32,
    ) -> Result<Self, SearchError> {
        index.tokenizers().register(TOKENIZER, CjkTokenizer);
        // Segments are searched in parallel so a single heavy query uses
        // every core; the executor must be set before the reader clones the
        // index.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        if threads > 1 {
            index.set_multithread_executor(threads)?;
        }
        let watermark = parse_watermark(index.load_metas()?.payload.as_deref());
        // One indexing thread: a node indexes a trickle of publications, and
        // the cores are better left to the calls being served (more threads
        // would also make more, smaller segments to merge).
        //
        // The writer starts its threads (indexing, segment updates, merges)
        // when it is made; made on a thread of lowered priority, they
        // inherit that priority.
        let writer = std::thread::scope(|s| {
            s.spawn(|| {
                if let Err(e) = gongkai_kernel::priority::lower_current_thread(indexing_nice) {
                    tracing::warn!(error = %e, "could not lower the search indexing priority");
                }
                index.writer_with_num_threads(1, WRITER_MEMORY_BUDGET)
            })
            .join()
        })
        .map_err(|_| {
            SearchError::Dir("the search index writer panicked while starting".into())
        })??;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        // Jieba loads its dictionary on first use; pay that here rather than
        // in the first user's query.
        let _ = jieba_words("政务公开");
        Ok(Self {
            reader,
            writer: Mutex::new(writer),
            fields,
            watermark: AtomicI64::new(watermark),
            dirty: AtomicBool::new(false),
            commits: AtomicU64::new(0),
        })
    }

    fn writer(&self) -> MutexGuard<'_, IndexWriter> {
        // A panic while holding the lock leaves the writer itself usable; the
        // uncommitted batch is the caller's to replay from its watermark.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `doc`, replacing any document with the same id. Buffered: visible
    /// to searches after the next [`commit`](Self::commit).
    pub fn upsert(&self, doc: &IndexedDoc) -> Result<(), SearchError> {
        let f = &self.fields;
        let mut d = TantivyDocument::default();
        d.add_text(f.id, &doc.id);
        d.add_text(f.title, &doc.title);
        if !doc.doc_number.is_empty() {
            d.add_text(f.title, &doc.doc_number);
        }
        if !doc.index_no.is_empty() {
            d.add_text(f.title, &doc.index_no);
        }
        d.add_text(f.title_stored, &doc.title);
        d.add_text(f.body, &doc.body);
        d.add_text(f.unit, &doc.unit);
        for prefix in unit_prefixes(&doc.unit) {
            d.add_text(f.unit_path, prefix);
        }
        d.add_text(f.index_no, &doc.index_no);
        d.add_text(f.column, &doc.column);
        d.add_text(f.publisher, &doc.publisher);
        d.add_text(f.validity, &doc.validity);
        d.add_i64(f.year, i64::from(doc.published_on.year()));
        d.add_i64(f.published, i64::from(doc.published_on.num_days_from_ce()));

        let writer = self.writer();
        // Delete and add under one lock so a concurrent commit never exposes
        // the document as missing.
        writer.delete_term(Term::from_field_text(f.id, &doc.id));
        writer.add_document(d)?;
        self.dirty.store(true, AtomicOrdering::Release);
        Ok(())
    }

    /// Removes the document with `id`. Buffered like [`upsert`](Self::upsert).
    pub fn delete(&self, id: &str) -> Result<(), SearchError> {
        let writer = self.writer();
        writer.delete_term(Term::from_field_text(self.fields.id, id));
        self.dirty.store(true, AtomicOrdering::Release);
        Ok(())
    }

    /// Commits buffered changes, recording `watermark` (a monotonically
    /// increasing sequence the caller owns) in the commit payload, and makes
    /// them searchable before returning.
    pub fn commit(&self, watermark: i64) -> Result<(), SearchError> {
        let mut writer = self.writer();
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&format!("{WATERMARK_PREFIX}{watermark}"));
        prepared.commit()?;
        // Reload while still holding the writer so that, once any caller sees
        // the new watermark, the changes it covers are searchable too.
        self.reader.reload()?;
        self.watermark.store(watermark, AtomicOrdering::Release);
        self.dirty.store(false, AtomicOrdering::Release);
        self.commits.fetch_add(1, AtomicOrdering::Relaxed);
        Ok(())
    }

    /// Commits made since the index was opened; each makes a segment, which
    /// merges will read and write again.
    pub fn commits(&self) -> u64 {
        self.commits.load(AtomicOrdering::Relaxed)
    }

    /// The watermark of the last commit (0 for a new index), read from the
    /// commit payload on open so it survives restarts.
    pub fn watermark(&self) -> i64 {
        self.watermark.load(AtomicOrdering::Acquire)
    }

    /// Whether upserts or deletes are buffered since the last commit.
    pub fn has_uncommitted(&self) -> bool {
        self.dirty.load(AtomicOrdering::Acquire)
    }

    /// Number of committed, searchable documents.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Waits for background segment merges and releases the directory lock.
    /// Uncommitted changes are discarded.
    pub fn close(self) -> Result<(), SearchError> {
        let writer = self
            .writer
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        writer.wait_merging_threads()?;
        Ok(())
    }

    pub fn search(&self, q: &SearchQuery) -> Result<SearchPage, SearchError> {
        let words = analyze_query(&q.text)?;
        let filters = self.filter_queries(q);
        if words.needles.is_empty() && filters.is_empty() {
            return Err(SearchError::BadQuery(
                "must not be empty unless a filter (column, year, validity, publisher, unit) is given"
                    .to_string(),
            ));
        }
        let limit = match q.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        let limit = limit.min(MAX_RESULT_WINDOW.saturating_sub(q.offset));

        let searcher = self.reader.searcher();
        let listing = words.needles.is_empty();
        // A lone term is scored with block-max WAND, which skips most
        // matches, so counting them separately is cheaper than scoring them
        // all. Anything else scores every match anyway; count in that pass.
        let prunable = filters.is_empty()
            && words.bonus_phrases.is_empty()
            && matches!(words.needles.as_slice(), [Needle::Term(_)]);
        let query = self.build_query(&words, filters);
        let by_score = || {
            TopDocs::with_limit(limit)
                .and_offset(q.offset)
                .order_by_score()
        };

        let (total, top): (usize, Vec<(f32, DocAddress)>) = if limit == 0 {
            (searcher.search(&*query, &Count)?, Vec::new())
        } else if listing {
            let newest = TopDocs::with_limit(limit)
                .and_offset(q.offset)
                .order_by_fast_field::<i64>("published", Order::Desc);
            let (top, total) = searcher.search(&*query, &(newest, Count))?;
            (
                total,
                top.into_iter().map(|(_, addr)| (0.0, addr)).collect(),
            )
        } else if prunable {
            let total = searcher.search(&*query, &Count)?;
            if q.offset >= total {
                (total, Vec::new())
            } else {
                (total, searcher.search(&*query, &by_score())?)
            }
        } else {
            let (top, total) = searcher.search(&*query, &(by_score(), Count))?;
            (total, top)
        };
        if top.is_empty() {
            return Ok(SearchPage {
                total,
                hits: Vec::new(),
            });
        }

        let highlighter = if listing {
            None
        } else {
            Some(Highlighter::new(&searcher, &*query, &self.fields)?)
        };
        let hits = top
            .into_iter()
            .map(|(score, addr)| self.load_hit(&searcher, addr, score, highlighter.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SearchPage { total, hits })
    }

    fn filter_queries(&self, q: &SearchQuery) -> Vec<Box<dyn Query>> {
        let f = &self.fields;
        let mut out: Vec<Box<dyn Query>> = Vec::new();
        let mut text_filter = |field: Field, value: &Option<String>| {
            // Transport layers often turn "no filter" into an empty string.
            if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                out.push(Box::new(TermQuery::new(
                    Term::from_field_text(field, v),
                    IndexRecordOption::Basic,
                )));
            }
        };
        text_filter(f.column, &q.column);
        text_filter(f.validity, &q.validity);
        text_filter(f.publisher, &q.publisher);
        text_filter(
            f.unit_path,
            &q.unit
                .as_deref()
                .map(|u| u.trim().trim_matches('.').to_string()),
        );
        if let Some(year) = q.year {
            out.push(Box::new(TermQuery::new(
                Term::from_field_i64(f.year, i64::from(year)),
                IndexRecordOption::Basic,
            )));
        }
        out
    }

    fn build_query(&self, words: &AnalyzedQuery, filters: Vec<Box<dyn Query>>) -> Box<dyn Query> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for needle in &words.needles {
            clauses.push((Occur::Must, self.needle_query(needle)));
        }
        for phrase in &words.bonus_phrases {
            clauses.push((Occur::Should, self.needle_query(phrase)));
        }
        let scored = !words.needles.is_empty();
        for filter in filters {
            // Filters must not shift BM25 scores; in a listing nothing is
            // scored, so the wrapper would only cost time.
            let filter: Box<dyn Query> = if scored {
                Box::new(ConstScoreQuery::new(filter, 0.0))
            } else {
                filter
            };
            clauses.push((Occur::Must, filter));
        }
        if clauses.len() == 1 {
            // A lone word stays a plain title/body union, which tantivy
            // scores with block-max WAND.
            if let Some((_, query)) = clauses.pop() {
                return query;
            }
        }
        Box::new(BooleanQuery::new(clauses))
    }

    fn needle_query(&self, needle: &Needle) -> Box<dyn Query> {
        let on_field = |field: Field| -> Box<dyn Query> {
            match needle {
                Needle::Term(text) => Box::new(TermQuery::new(
                    Term::from_field_text(field, text),
                    IndexRecordOption::WithFreqs,
                )),
                Needle::Phrase(parts) => Box::new(PhraseQuery::new_with_offset(
                    parts
                        .iter()
                        .map(|(offset, text)| (*offset, Term::from_field_text(field, text)))
                        .collect(),
                )),
            }
        };
        Box::new(BooleanQuery::new(vec![
            (
                Occur::Should,
                Box::new(BoostQuery::new(on_field(self.fields.title), TITLE_BOOST)),
            ),
            (Occur::Should, on_field(self.fields.body)),
        ]))
    }

    fn load_hit(
        &self,
        searcher: &Searcher,
        addr: DocAddress,
        score: f32,
        highlighter: Option<&Highlighter>,
    ) -> Result<SearchHit, SearchError> {
        let f = &self.fields;
        let doc: TantivyDocument = searcher.doc(addr)?;
        let text = |field: Field| -> String {
            doc.get_first(field)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        let title = text(f.title_stored);
        let body = doc
            .get_first(f.body)
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let published_on = doc
            .get_first(f.published)
            .and_then(|v| v.as_i64())
            .and_then(|days| i32::try_from(days).ok())
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .unwrap_or_default();
        let (title_html, snippet_html) = match highlighter {
            Some(h) => (h.title(&title), h.body(body)),
            None => (escape_html(&title), excerpt_html(body)),
        };
        Ok(SearchHit {
            id: text(f.id),
            unit: text(f.unit),
            index_no: text(f.index_no),
            column: text(f.column),
            publisher: text(f.publisher),
            validity: text(f.validity),
            published_on,
            score,
            title,
            title_html,
            snippet_html,
        })
    }
}

fn parse_watermark(payload: Option<&str>) -> i64 {
    let Some(payload) = payload else { return 0 };
    match payload
        .strip_prefix(WATERMARK_PREFIX)
        .and_then(|n| n.trim().parse::<i64>().ok())
    {
        Some(w) => w,
        None => {
            tracing::warn!(
                payload,
                "search index commit payload has no watermark; starting from 0"
            );
            0
        }
    }
}

/// "340823.edu.x" -> "340823", "340823.edu", "340823.edu.x".
fn unit_prefixes(unit: &str) -> impl Iterator<Item = &str> {
    let unit = unit.trim().trim_matches('.');
    unit.match_indices('.')
        .map(move |(i, _)| &unit[..i])
        .chain(std::iter::once(unit))
        .filter(|p| !p.is_empty())
}

/// Builds snippets once per search; per hit only the stored text is scanned.
struct Highlighter {
    title: SnippetGenerator,
    body: SnippetGenerator,
}

impl Highlighter {
    fn new(searcher: &Searcher, query: &dyn Query, fields: &Fields) -> Result<Self, SearchError> {
        let mut title = SnippetGenerator::create(searcher, query, fields.title)?;
        // The whole title is always shown, so never split it into fragments.
        title.set_max_num_chars(usize::MAX / 2);
        let mut body = SnippetGenerator::create(searcher, query, fields.body)?;
        body.set_max_num_chars(SNIPPET_MAX_BYTES);
        Ok(Self { title, body })
    }

    fn title(&self, title: &str) -> String {
        let snippet = self.title.snippet(title);
        let start = snippet.fragment_range().start;
        let marks = snippet
            .highlighted()
            .iter()
            .map(|r| r.start + start..r.end + start);
        highlight_html(title, marks)
    }

    fn body(&self, body: &str) -> String {
        let snippet = self.body.snippet(body);
        if snippet.is_empty() {
            return excerpt_html(body);
        }
        let range = snippet.fragment_range();
        let mut html = String::new();
        if range.start > 0 {
            html.push('…');
        }
        html.push_str(&highlight_html(
            snippet.fragment(),
            snippet.highlighted().iter().cloned(),
        ));
        // Trailing punctuation is not part of any token; show it rather
        // than an ellipsis that promises more text.
        let rest = body.get(range.end..).unwrap_or_default();
        if rest.chars().any(is_word_char) {
            html.push('…');
        } else {
            push_escaped(&mut html, rest.trim_end());
        }
        html
    }
}

/// Leading excerpt for hits that matched only in the title, or listings.
fn excerpt_html(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", escape_html(&body[..cut])),
        None => escape_html(body),
    }
}

/// Escapes `text` and wraps the byte ranges `marks` (any order, possibly
/// overlapping, as overlapping bigrams produce) in `<em>`.
fn highlight_html(text: &str, marks: impl Iterator<Item = Range<usize>>) -> String {
    let mut marks: Vec<Range<usize>> = marks
        .filter(|r| r.start < r.end && r.end <= text.len())
        .collect();
    marks.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(marks.len());
    for r in marks {
        match merged.last_mut() {
            // Adjacent marks merge too: 政务|公开 reads better as one <em>.
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    let mut html = String::with_capacity(text.len() + merged.len() * 9);
    let mut at = 0;
    for r in merged {
        let (Some(before), Some(marked)) = (text.get(at..r.start), text.get(r.clone())) else {
            continue;
        };
        push_escaped(&mut html, before);
        html.push_str("<em>");
        push_escaped(&mut html, marked);
        html.push_str("</em>");
        at = r.end;
    }
    push_escaped(&mut html, text.get(at..).unwrap_or_default());
    html
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

// ---------------------------------------------------------------------------
// Analysis

/// Chinese, Japanese kana and compatibility ideographs: scripts written
/// without spaces, which get bigrams.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3007
        | 0x3040..=0x30FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0x20000..=0x2FA1F
        | 0x30000..=0x3134F)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Folds full-width letters and digits (ＡＢＣ１２３, common in Chinese
/// text) to ASCII and lower-cases, so 2026 and ２０２６ are one term.
fn push_normalized(out: &mut String, c: char) {
    let c = match c as u32 {
        0xFF10..=0xFF19 | 0xFF21..=0xFF3A | 0xFF41..=0xFF5A => {
            char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
        }
        _ => c,
    };
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else {
        out.extend(c.to_lowercase());
    }
}

/// Longer letter/digit runs are hashes or garbage, not something people type.
const MAX_WORD_BYTES: usize = 64;

/// Index-time tokenizer: every CJK character as a unigram and, when followed
/// by another CJK character, the bigram starting there; every run of other
/// letters/digits as one lower-cased word. Positions are character offsets,
/// so a bigram phrase with offsets 0, 2, 4 matches exactly the substring.
#[derive(Clone, Default)]
pub struct CjkTokenizer;

pub struct CjkTokenStream<'a> {
    text: &'a str,
    /// Byte offset of the next character to scan.
    cursor: usize,
    /// Character offset of `cursor`.
    char_pos: usize,
    /// Bigram (byte range, position) to emit after the current unigram.
    pending: Option<(Range<usize>, usize)>,
    token: Token,
}

impl Tokenizer for CjkTokenizer {
    type TokenStream<'a> = CjkTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CjkTokenStream<'a> {
        CjkTokenStream {
            text,
            cursor: 0,
            char_pos: 0,
            pending: None,
            token: Token::default(),
        }
    }
}

impl CjkTokenStream<'_> {
    fn set_token(&mut self, bytes: Range<usize>, position: usize, chars: usize) {
        self.token.offset_from = bytes.start;
        self.token.offset_to = bytes.end;
        self.token.position = position;
        self.token.position_length = chars;
    }
}

impl TokenStream for CjkTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if let Some((bytes, position)) = self.pending.take() {
            self.token.text.clear();
            self.token.text.push_str(&self.text[bytes.clone()]);
            self.set_token(bytes, position, 2);
            return true;
        }
        loop {
            let rest = &self.text[self.cursor..];
            let mut chars = rest.chars();
            let Some(c) = chars.next() else {
                return false;
            };
            let from = self.cursor;
            let position = self.char_pos;
            if is_cjk(c) {
                let to = from + c.len_utf8();
                self.cursor = to;
                self.char_pos += 1;
                if let Some(next) = chars.next().filter(|n| is_cjk(*n)) {
                    self.pending = Some((from..to + next.len_utf8(), position));
                }
                self.token.text.clear();
                self.token.text.push(c);
                self.set_token(from..to, position, 1);
                return true;
            }
            if is_word_char(c) {
                self.token.text.clear();
                let mut to = from;
                let mut n = 0;
                for ch in rest.chars() {
                    if is_cjk(ch) || !is_word_char(ch) {
                        break;
                    }
                    push_normalized(&mut self.token.text, ch);
                    to += ch.len_utf8();
                    n += 1;
                }
                self.cursor = to;
                self.char_pos += n;
                if self.token.text.len() > MAX_WORD_BYTES {
                    continue;
                }
                self.set_token(from..to, position, n);
                return true;
            }
            self.cursor += c.len_utf8();
            self.char_pos += 1;
        }
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// One word of the query, as it must appear in the title or body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Needle {
    /// A single indexed term: one CJK character, a bigram or an ASCII word.
    Term(String),
    /// Three or more CJK characters: bigrams at character offsets.
    Phrase(Vec<(usize, String)>),
}

#[derive(Debug, Default)]
struct AnalyzedQuery {
    /// All must match.
    needles: Vec<Needle>,
    /// Unspaced CJK input that jieba split into several words; documents
    /// containing it verbatim score higher but others still match.
    bonus_phrases: Vec<Needle>,
}

fn analyze_query(text: &str) -> Result<AnalyzedQuery, SearchError> {
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(SearchError::BadQuery(format!(
            "must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let mut out = AnalyzedQuery::default();
    let mut stop_needles = Vec::new();
    for (run, cjk) in runs(text) {
        if !cjk {
            push_unique(&mut out.needles, Needle::Term(run));
            continue;
        }
        let len = run.chars().count();
        if len <= 2 {
            push_unique(&mut out.needles, Needle::Term(run));
            continue;
        }
        let words = jieba_words(&run);
        if words.len() <= 1 {
            push_unique(&mut out.needles, cjk_needle(&run));
            continue;
        }
        for word in words {
            let mut chars = word.chars();
            if let (Some(c), None) = (chars.next(), chars.next())
                && STOP_CHARS.contains(&c)
            {
                push_unique(&mut stop_needles, Needle::Term(word));
                continue;
            }
            push_unique(&mut out.needles, cjk_needle(&word));
        }
        push_unique(&mut out.bonus_phrases, cjk_needle(&run));
    }
    if out.needles.is_empty() {
        // A query made only of stop characters still means something.
        out.needles = stop_needles;
    }
    if out.needles.len() > MAX_QUERY_WORDS {
        return Err(SearchError::BadQuery(format!(
            "must have at most {MAX_QUERY_WORDS} words"
        )));
    }
    Ok(out)
}

fn push_unique(v: &mut Vec<Needle>, n: Needle) {
    if !v.contains(&n) {
        v.push(n);
    }
}

/// Splits query text into normalized CJK runs (`true`) and letter/digit
/// words (`false`); everything else, including tantivy query syntax, only
/// separates.
fn runs(text: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut current: Option<(String, bool)> = None;
    for c in text.chars() {
        let kind = if is_cjk(c) {
            Some(true)
        } else if is_word_char(c) {
            Some(false)
        } else {
            None
        };
        match (kind, current.as_mut()) {
            (Some(k), Some((s, ck))) if *ck == k => push_normalized(s, c),
            (Some(k), _) => {
                out.extend(current.take());
                let mut s = String::new();
                push_normalized(&mut s, c);
                current = Some((s, k));
            }
            (None, _) => out.extend(current.take()),
        }
    }
    out.extend(current);
    out.retain(|(s, cjk)| *cjk || s.len() <= MAX_WORD_BYTES);
    out
}

/// Bigrams covering every character, at their offsets: 政务公开会 ->
/// 政务@0 公开@2 开会@3. Fewer posting lists than all overlapping bigrams,
/// same exact-substring meaning.
fn cjk_needle(word: &str) -> Needle {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() <= 2 {
        return Needle::Term(word.to_string());
    }
    let bigram = |i: usize| -> (usize, String) { (i, chars[i..i + 2].iter().collect()) };
    let mut parts: Vec<(usize, String)> = (0..=chars.len() - 2).step_by(2).map(bigram).collect();
    if chars.len() % 2 == 1 {
        parts.push(bigram(chars.len() - 2));
    }
    Needle::Phrase(parts)
}

/// Jieba's default (precise) segmentation of a CJK run.
fn jieba_words(run: &str) -> Vec<String> {
    let mut tokenizer = tantivy_jieba::JiebaTokenizer::with_search_mode(false);
    let mut stream = tokenizer.token_stream(run);
    let mut words = Vec::new();
    while let Some(token) = stream.next() {
        words.push(token.text.clone());
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn doc(id: &str, title: &str, body: &str) -> IndexedDoc {
        IndexedDoc {
            id: id.to_string(),
            unit: "340823.edu".to_string(),
            index_no: format!("11340823MB0000000X/2025-{id}"),
            title: title.to_string(),
            doc_number: String::new(),
            column: "gzzj".to_string(),
            publisher: "南陵县教育局".to_string(),
            published_on: date(2026, 3, 1),
            validity: "valid".to_string(),
            body: body.to_string(),
        }
    }

    fn text(t: &str) -> SearchQuery {
        SearchQuery {
            text: t.to_string(),
            ..SearchQuery::default()
        }
    }

    fn ids(page: &SearchPage) -> Vec<&str> {
        page.hits.iter().map(|h| h.id.as_str()).collect()
    }

    fn sorted_ids(page: &SearchPage) -> Vec<&str> {
        let mut v = ids(page);
        v.sort_unstable();
        v
    }

    fn tokens(text: &str) -> Vec<(String, usize)> {
        let mut tokenizer = CjkTokenizer;
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push((t.text.clone(), t.position));
        }
        out
    }

    fn index_with(docs: &[IndexedDoc]) -> Result<SearchIndex, SearchError> {
        let index = SearchIndex::open_in_ram()?;
        for d in docs {
            index.upsert(d)?;
        }
        index.commit(1)?;
        Ok(index)
    }

    #[test]
    fn tokenizer_emits_unigrams_bigrams_and_words() {
        assert_eq!(
            tokens("政务公开 2026年ＡＢc"),
            vec![
                ("政".into(), 0),
                ("政务".into(), 0),
                ("务".into(), 1),
                ("务公".into(), 1),
                ("公".into(), 2),
                ("公开".into(), 2),
                ("开".into(), 3),
                ("2026".into(), 5),
                ("年".into(), 9),
                ("abc".into(), 10),
            ]
        );
    }

    #[test]
    fn query_analysis_splits_with_jieba_and_covers_with_bigrams() -> TestResult {
        assert_eq!(
            cjk_needle("政务公开"),
            Needle::Phrase(vec![(0, "政务".into()), (2, "公开".into())])
        );
        assert_eq!(
            cjk_needle("政务公开会"),
            Needle::Phrase(vec![
                (0, "政务".into()),
                (2, "公开".into()),
                (3, "开会".into())
            ])
        );
        let q = analyze_query("  title:(公开 OR \"x\" 2026-03  ")?;
        assert_eq!(
            q.needles,
            vec![
                Needle::Term("title".into()),
                Needle::Term("公开".into()),
                Needle::Term("or".into()),
                Needle::Term("x".into()),
                Needle::Term("2026".into()),
                Needle::Term("03".into()),
            ]
        );
        let q = analyze_query("政务公开的通知")?;
        assert!(!q.needles.contains(&Needle::Term("的".into())));
        assert_eq!(q.bonus_phrases.len(), 1);
        Ok(())
    }

    fn corpus() -> Vec<IndexedDoc> {
        vec![
            doc(
                "a",
                "关于做好2026年政务公开工作的通知",
                "各学校：为进一步推进政务公开工作，提高透明度，现就有关事项通知如下。",
            ),
            doc(
                "b",
                "县财政资金管理办法",
                "加强财政资金监管，确保资金使用公开透明，REPORT编号 A-17。",
            ),
            doc(
                "c",
                "教育工作总结",
                "今年以来，全县教育系统坚持立德树人，办学质量稳步提升。",
            ),
        ]
    }

    #[test]
    fn two_character_words_hit_inside_longer_words() -> TestResult {
        let index = index_with(&corpus())?;
        for (q, expected) in [
            ("公开", vec!["a", "b"]),
            ("政务", vec!["a"]),
            ("政务公开", vec!["a"]),
            ("政务公开工作", vec!["a"]),
            ("财政", vec!["b"]),
            ("财政资金", vec!["b"]),
            ("2026", vec!["a"]),
            ("report", vec!["b"]),
            ("REPORT", vec!["b"]),
            ("a-17", vec!["b"]),
            ("立德树人", vec!["c"]),
            ("县", vec!["b", "c"]),
        ] {
            let page = index.search(&text(q))?;
            assert_eq!(sorted_ids(&page), expected, "query {q}");
            assert_eq!(page.total, expected.len(), "total for {q}");
        }
        // Unspaced words are segmented and ANDed (a has 公开 and 透明度).
        assert_eq!(
            sorted_ids(&index.search(&text("公开透明"))?),
            vec!["a", "b"]
        );
        // Characters adjacent in no document must not match.
        assert_eq!(index.search(&text("开政"))?.total, 0);
        assert_eq!(index.search(&text("务公开工作"))?.total, 1);
        assert_eq!(index.search(&text("政务资金"))?.total, 0);
        Ok(())
    }

    #[test]
    fn all_words_must_match() -> TestResult {
        let index = index_with(&corpus())?;
        assert_eq!(ids(&index.search(&text("公开 财政"))?), vec!["b"]);
        assert_eq!(ids(&index.search(&text("公开　通知"))?), vec!["a"]);
        assert_eq!(index.search(&text("公开 立德树人"))?.total, 0);
        // Unspaced input is segmented, so words need not be adjacent…
        assert_eq!(ids(&index.search(&text("政务公开通知"))?), vec!["a"]);
        Ok(())
    }

    #[test]
    fn verbatim_phrase_outranks_scattered_words() -> TestResult {
        let index = index_with(&[
            doc("scattered", "通知", "公开有关事项，部署工作安排。"),
            doc("verbatim", "通知", "部署有关事项，公开工作安排。"),
        ])?;
        assert_eq!(analyze_query("公开工作")?.bonus_phrases.len(), 1);
        let page = index.search(&text("公开工作"))?;
        assert_eq!(page.total, 2);
        assert_eq!(ids(&page), vec!["verbatim", "scattered"]);
        Ok(())
    }

    #[test]
    fn filters_each_narrow_results() -> TestResult {
        let mut docs = Vec::new();
        let mut d = doc("base", "政务公开通知", "政务公开");
        docs.push(d.clone());
        d.id = "col".into();
        d.column = "zcwj".into();
        docs.push(d.clone());
        d = doc("year", "政务公开通知", "政务公开");
        d.published_on = date(2024, 12, 31);
        docs.push(d);
        d = doc("abol", "政务公开通知", "政务公开");
        d.validity = "abolished".into();
        docs.push(d);
        d = doc("pub", "政务公开通知", "政务公开");
        d.publisher = "南陵县财政局".into();
        docs.push(d);
        d = doc("unit", "政务公开通知", "政务公开");
        d.unit = "340824.fin".into();
        docs.push(d);
        let index = index_with(&docs)?;

        let q = |f: &dyn Fn(&mut SearchQuery)| {
            let mut q = text("公开");
            f(&mut q);
            q
        };
        let cases: Vec<(SearchQuery, Vec<&str>)> = vec![
            (q(&|q| q.column = Some("zcwj".into())), vec!["col"]),
            (q(&|q| q.year = Some(2024)), vec!["year"]),
            (q(&|q| q.validity = Some("abolished".into())), vec!["abol"]),
            (
                q(&|q| q.publisher = Some("南陵县财政局".into())),
                vec!["pub"],
            ),
            (q(&|q| q.unit = Some("340824".into())), vec!["unit"]),
            (q(&|q| q.unit = Some("340824.fin".into())), vec!["unit"]),
            (
                q(&|q| {
                    q.year = Some(2026);
                    q.validity = Some("valid".into());
                    q.column = Some("gzzj".into());
                    q.unit = Some("340823".into());
                }),
                vec!["base", "pub"],
            ),
            // Empty strings mean "no filter".
            (
                q(&|q| q.column = Some(String::new())),
                vec!["abol", "base", "col", "pub", "unit", "year"],
            ),
        ];
        for (query, expected) in cases {
            let page = index.search(&query)?;
            assert_eq!(sorted_ids(&page), expected, "{query:?}");
            assert_eq!(page.total, expected.len());
        }
        Ok(())
    }

    #[test]
    fn unit_filter_matches_subtree_only() -> TestResult {
        let mut docs = Vec::new();
        for (id, unit) in [
            ("root", "340823"),
            ("child", "340823.edu"),
            ("grandchild", "340823.edu.school1"),
            ("sibling", "3408231"),
            ("other", "340824.edu"),
        ] {
            let mut d = doc(id, "政务公开", "政务公开");
            d.unit = unit.into();
            docs.push(d);
        }
        let index = index_with(&docs)?;
        let mut q = text("公开");
        q.unit = Some("340823".into());
        assert_eq!(
            sorted_ids(&index.search(&q)?),
            vec!["child", "grandchild", "root"]
        );
        q.unit = Some("340823.edu".into());
        assert_eq!(sorted_ids(&index.search(&q)?), vec!["child", "grandchild"]);
        q.unit = Some("340823.ed".into());
        assert_eq!(index.search(&q)?.total, 0);
        // Listing a subtree without text, newest first.
        q.text.clear();
        q.unit = Some("340823".into());
        assert_eq!(index.search(&q)?.total, 3);
        Ok(())
    }

    #[test]
    fn paging_and_totals() -> TestResult {
        let docs: Vec<IndexedDoc> = (0..25)
            .map(|i| {
                let mut d = doc(&format!("d{i:02}"), "财政预算公开", "财政预算");
                d.published_on = date(2000 + i, 1, 1);
                d
            })
            .collect();
        let index = index_with(&docs)?;
        let mut seen = Vec::new();
        for offset in [0, 10, 20] {
            let page = index.search(&SearchQuery {
                text: "预算".into(),
                offset,
                ..SearchQuery::default()
            })?;
            assert_eq!(page.total, 25);
            assert_eq!(page.hits.len(), if offset == 20 { 5 } else { 10 });
            seen.extend(page.hits.into_iter().map(|h| h.id));
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 25);

        let page = index.search(&SearchQuery {
            text: "预算".into(),
            offset: 30,
            ..SearchQuery::default()
        })?;
        assert_eq!((page.total, page.hits.len()), (25, 0));
        let page = index.search(&SearchQuery {
            text: "预算".into(),
            limit: 1000,
            ..SearchQuery::default()
        })?;
        assert_eq!(page.hits.len(), 25);

        // Empty text with a filter lists newest first.
        let page = index.search(&SearchQuery {
            column: Some("gzzj".into()),
            limit: 3,
            offset: 1,
            ..SearchQuery::default()
        })?;
        assert_eq!(page.total, 25);
        assert_eq!(ids(&page), vec!["d23", "d22", "d21"]);
        assert!(page.hits.iter().all(|h| h.score == 0.0));
        assert!(page.hits[0].snippet_html.starts_with("财政预算"));
        Ok(())
    }

    #[test]
    fn upsert_replaces_and_delete_removes() -> TestResult {
        let index = SearchIndex::open_in_ram()?;
        assert!(!index.has_uncommitted());
        index.upsert(&doc("x", "政务公开", "旧内容"))?;
        assert!(index.has_uncommitted());
        assert_eq!(index.num_docs(), 0, "invisible before commit");
        index.commit(1)?;
        assert!(!index.has_uncommitted());
        index.upsert(&doc("x", "政务公开", "新内容"))?;
        index.upsert(&doc("x", "政务公开", "最新内容"))?;
        index.commit(2)?;
        assert_eq!(index.num_docs(), 1);
        let page = index.search(&text("公开"))?;
        assert_eq!(page.total, 1);
        assert_eq!(index.search(&text("旧内容"))?.total, 0);
        assert_eq!(index.search(&text("新内容"))?.total, 1);

        index.delete("x")?;
        assert!(index.has_uncommitted());
        assert_eq!(
            index.search(&text("公开"))?.total,
            1,
            "visible until commit"
        );
        index.commit(3)?;
        assert_eq!(index.search(&text("公开"))?.total, 0);
        assert_eq!(index.num_docs(), 0);
        Ok(())
    }

    #[test]
    fn watermark_survives_reopen() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("search");
        {
            let index = SearchIndex::open_in_dir(&path)?;
            assert_eq!(index.watermark(), 0);
            index.upsert(&doc("a", "政务公开", "正文"))?;
            index.commit(41)?;
            index.upsert(&doc("b", "政务公开", "正文"))?;
            index.commit(42)?;
            index.upsert(&doc("c", "政务公开", "未提交"))?;
            assert_eq!(index.watermark(), 42);
            index.close()?;
        }
        let index = SearchIndex::open_in_dir(&path)?;
        assert_eq!(index.watermark(), 42);
        assert_eq!(index.num_docs(), 2);
        assert_eq!(sorted_ids(&index.search(&text("公开"))?), vec!["a", "b"]);
        Ok(())
    }

    #[test]
    fn second_writer_on_same_dir_is_an_error() -> TestResult {
        let dir = tempfile::tempdir()?;
        let _first = SearchIndex::open_in_dir(dir.path())?;
        assert!(matches!(
            SearchIndex::open_in_dir(dir.path()),
            Err(SearchError::Index(_))
        ));
        Ok(())
    }

    #[test]
    fn abolished_documents_are_returned_and_marked() -> TestResult {
        let mut old = doc("old", "政务公开管理办法", "本办法自发布之日起施行。");
        old.validity = "abolished".into();
        let index = index_with(&[old, doc("new", "政务公开管理办法（修订）", "施行。")])?;
        let page = index.search(&text("管理办法"))?;
        assert_eq!(page.total, 2);
        let old = page
            .hits
            .iter()
            .find(|h| h.id == "old")
            .ok_or("abolished doc missing")?;
        assert_eq!(old.validity, "abolished");
        Ok(())
    }

    #[test]
    fn hits_carry_metadata_and_highlights() -> TestResult {
        let index = index_with(&corpus())?;
        let page = index.search(&text("政务公开"))?;
        let hit = &page.hits[0];
        assert_eq!(hit.id, "a");
        assert_eq!(hit.unit, "340823.edu");
        assert_eq!(hit.index_no, "11340823MB0000000X/2025-a");
        assert_eq!(hit.column, "gzzj");
        assert_eq!(hit.publisher, "南陵县教育局");
        assert_eq!(hit.published_on, date(2026, 3, 1));
        assert_eq!(hit.validity, "valid");
        assert!(hit.score > 0.0);
        assert_eq!(hit.title, "关于做好2026年政务公开工作的通知");
        assert_eq!(hit.title_html, "关于做好2026年<em>政务公开</em>工作的通知");
        assert!(
            hit.snippet_html.contains("推进<em>政务公开</em>工作"),
            "{}",
            hit.snippet_html
        );

        // A title-only match still shows the start of the body.
        let page = index.search(&text("总结"))?;
        assert_eq!(page.hits[0].title_html, "教育工作<em>总结</em>");
        assert!(page.hits[0].snippet_html.starts_with("今年以来"));
        Ok(())
    }

    #[test]
    fn long_bodies_get_a_short_snippet_around_the_match() -> TestResult {
        let filler = "各地区各部门要高度重视，认真组织实施。".repeat(40);
        let body = format!("{filler}重点做好预决算公开。{filler}");
        let index = index_with(&[doc("long", "通知", &body)])?;
        let hit = &index.search(&text("预决算"))?.hits[0];
        assert!(hit.snippet_html.contains("<em>预决算</em>"));
        assert!(hit.snippet_html.starts_with('…') && hit.snippet_html.ends_with('…'));
        assert!(
            hit.snippet_html.chars().count() < 140,
            "{}",
            hit.snippet_html
        );
        Ok(())
    }

    #[test]
    fn html_in_documents_is_escaped() -> TestResult {
        let index = index_with(&[doc(
            "x",
            "<b>政务</b>公开 & \"通知\"",
            "正文<script>alert('公开')</script>结束",
        )])?;
        let hit = &index.search(&text("公开"))?.hits[0];
        assert_eq!(
            hit.title_html,
            "&lt;b&gt;政务&lt;/b&gt;<em>公开</em> &amp; &quot;通知&quot;"
        );
        assert!(
            !hit.snippet_html.contains("<script"),
            "{}",
            hit.snippet_html
        );
        assert!(
            hit.snippet_html
                .contains("&lt;script&gt;alert(&#39;<em>公开</em>&#39;)&lt;/script&gt;"),
            "{}",
            hit.snippet_html
        );
        // Markup is not searchable text either way, but it must not break.
        assert_eq!(index.search(&text("<script>"))?.total, 1);
        Ok(())
    }

    #[test]
    fn bad_queries_are_rejected_with_the_rule() -> TestResult {
        let index = index_with(&corpus())?;
        for q in ["", "   ", "，。！", "\"(+-:"] {
            match index.search(&text(q)) {
                Err(SearchError::BadQuery(msg)) => {
                    assert!(msg.contains("must not be empty unless a filter"), "{msg}")
                }
                other => panic!("{q:?}: expected BadQuery, got {other:?}"),
            }
        }
        let err = index
            .search(&text(&"公".repeat(101)))
            .err()
            .ok_or("accepted")?;
        assert!(err.to_string().starts_with("query.text: "), "{err}");
        // Query syntax is just text: never a parse error.
        for q in [
            "title:公开",
            "公开 AND (",
            "\"公开",
            "公开^2 ~",
            "公开*",
            "公开 -财政",
        ] {
            index.search(&text(q))?;
        }
        assert_eq!(index.search(&text("公开 -财政"))?.total, 1);
        Ok(())
    }

    #[test]
    fn title_matches_outrank_body_matches() -> TestResult {
        let index = index_with(&[
            doc(
                "body",
                "年度工作报告",
                "落实审计整改要求，审计发现的问题已经整改，审计结果向社会公开。",
            ),
            doc("title", "审计结果公告", "现将有关情况公告如下。"),
            doc("none", "年度工作报告", "没有相关内容。"),
        ])?;
        let page = index.search(&text("审计"))?;
        assert_eq!(ids(&page), vec!["title", "body"]);
        assert!(page.hits[0].score > page.hits[1].score);
        Ok(())
    }

    #[test]
    fn doc_number_and_index_no_are_searchable() -> TestResult {
        let mut d = doc("n", "关于印发实施方案的通知", "正文。");
        d.doc_number = "政办秘〔2026〕96号".into();
        let index = index_with(&[d, doc("m", "实施方案", "正文。")])?;
        assert_eq!(ids(&index.search(&text("政办秘〔2026〕96号"))?), vec!["n"]);
        assert_eq!(
            ids(&index.search(&text("11340823MB0000000X/2025-n"))?),
            vec!["n"]
        );
        Ok(())
    }

    #[test]
    fn index_is_shareable_across_threads() -> TestResult {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SearchIndex>();
        let index = std::sync::Arc::new(SearchIndex::open_in_ram()?);
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let index = index.clone();
                std::thread::spawn(move || -> Result<(), SearchError> {
                    for i in 0..50 {
                        index.upsert(&doc(&format!("{t}-{i}"), "政务公开", "正文"))?;
                        index.search(&text("公开"))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "thread panicked")??;
        }
        index.commit(7)?;
        assert_eq!(index.search(&text("公开"))?.total, 200);
        Ok(())
    }
}
