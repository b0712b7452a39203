//! Search latency at scale: `SearchIndex::search` (count + top 10 + stored
//! fields + snippets) against a raw tantivy `TopDocs(10)` of the same boolean
//! query on the same index.
//!
//! ```text
//! GONGKAI_BENCH_DOCS=100000 cargo bench -p gongkai-publishing --bench search
//! ```
//!
//! Environment:
//! - `GONGKAI_BENCH_DOCS`: corpus size (default 1,000,000).
//! - `GONGKAI_SEED`: text whose jieba vocabulary feeds the generator
//!   (default `deploy/seed/work-summaries.txt` in the workspace).
//! - `GONGKAI_BENCH_DIR`: where built indexes are cached, one per size
//!   (default `target/bench-search-index` in the workspace).
//! - `GONGKAI_BENCH_QUERIES`: measured queries per engine (default 2,000).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use gongkai_publishing::search::{IndexedDoc, SearchIndex, SearchQuery};
use hdrhistogram::Histogram;
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{TokenStream, Tokenizer};
use tantivy::{Index, ReloadPolicy, Term};

/// Bump when the search schema or the generator changes, so stale cached
/// indexes are not measured.
const CACHE_FORMAT: u32 = 1;
const DEFAULT_DOCS: usize = 1_000_000;
const DEFAULT_QUERIES: usize = 2_000;
const WARMUP_QUERIES: usize = 200;
const COMMIT_EVERY: usize = 100_000;
/// Must match the title boost inside `SearchIndex` for a like-for-like
/// baseline.
const TITLE_BOOST: f32 = 3.0;
const FALLBACK_SEED: &str = "/work/shared/seed/000_77844d53e9b11173.txt";

const COLUMNS: &[&str] = &[
    "gzzj", "zcwj", "tzgg", "ghjh", "czyjs", "rsxx", "zfcg", "jyta",
];
const PUBLISHERS: &[&str] = &[
    "南陵县人民政府办公室",
    "南陵县教育局",
    "南陵县财政局",
    "南陵县卫生健康委员会",
    "南陵县自然资源和规划局",
    "南陵县农业农村局",
    "南陵县人力资源和社会保障局",
    "南陵县住房和城乡建设局",
    "南陵县市场监督管理局",
    "南陵县民政局",
    "籍山镇人民政府",
    "许镇镇人民政府",
];
const UNITS: &[&str] = &[
    "340823",
    "340823.gov",
    "340823.edu",
    "340823.edu.school1",
    "340823.edu.school2",
    "340823.fin",
    "340823.health",
    "340823.jishan",
    "340823.xuzhen",
];
const UNIT_FILTERS: &[&str] = &["340823", "340823.edu", "340823.fin", "340823.jishan"];
const YEARS: std::ops::RangeInclusive<i32> = 2015..=2026;

fn main() -> Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let n_docs = env_usize("GONGKAI_BENCH_DOCS", DEFAULT_DOCS)?;
    let n_queries = env_usize("GONGKAI_BENCH_QUERIES", DEFAULT_QUERIES)?;
    let seed_path = seed_path(&workspace)?;
    let cache_root = std::env::var_os("GONGKAI_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target/bench-search-index"));
    let dir = cache_root.join(format!("v{CACHE_FORMAT}-{n_docs}"));

    let seed_text = std::fs::read_to_string(&seed_path)
        .with_context(|| format!("reading seed {}", seed_path.display()))?;
    let vocab = Vocabulary::from_text(&seed_text)?;
    eprintln!(
        "seed {}: {} distinct words, {} of two characters",
        seed_path.display(),
        vocab.words.len(),
        vocab.bigrams.len()
    );

    let (index, build) = open_or_build(&dir, n_docs, &vocab)?;
    let index_bytes = dir_size(&dir)?;

    let queries = generate_queries(&vocab, WARMUP_QUERIES + n_queries);
    let (warmup, measured) = queries.split_at(WARMUP_QUERIES);

    let raw = RawIndex::open(&dir)?;
    for q in warmup {
        index.search(q)?;
        raw.top10(q)?;
    }
    let mut ours = new_histogram()?;
    // SearchIndex latency split by query shape: [one word, two words, filtered].
    let mut by_class = [new_histogram()?, new_histogram()?, new_histogram()?];
    let mut baseline = new_histogram()?;
    let mut total_matches = 0usize;
    let mut zero_hits = 0usize;
    // Interleaved, alternating which goes first, so background load and
    // cache warmth hit both engines alike.
    for (i, q) in measured.iter().enumerate() {
        let mut run_ours = || -> Result<()> {
            let started = Instant::now();
            let page = index.search(q)?;
            let elapsed = started.elapsed();
            record(&mut ours, elapsed)?;
            let class = if has_filter(q) {
                2
            } else {
                usize::from(q.text.contains(' '))
            };
            record(&mut by_class[class], elapsed)?;
            total_matches += page.total;
            zero_hits += usize::from(page.total == 0);
            Ok(())
        };
        let mut run_raw = || -> Result<()> {
            let started = Instant::now();
            let top = raw.top10(q)?;
            record(&mut baseline, started.elapsed())?;
            std::hint::black_box(top);
            Ok(())
        };
        if i % 2 == 0 {
            run_ours()?;
            run_raw()?;
        } else {
            run_raw()?;
            run_ours()?;
        }
    }

    let rss = Rss::read();
    let one_word = measured.iter().filter(|q| !q.text.contains(' ')).count();
    let filtered = measured.iter().filter(|q| has_filter(q)).count();
    println!();
    println!("Gongkai search benchmark");
    println!(
        "  documents        {}",
        thousands(index.num_docs() as usize)
    );
    println!("  segments         {}", raw.segments());
    println!("  index size       {}", human_bytes(index_bytes));
    println!("  index dir        {}", dir.display());
    match build {
        Build::Built(t) => println!("  build time       {:.1} s (this run)", t.as_secs_f64()),
        Build::Cached(Some(t)) => {
            println!(
                "  build time       {:.1} s (cached index, built earlier)",
                t.as_secs_f64()
            )
        }
        Build::Cached(None) => println!("  build time       unknown (cached index)"),
    }
    println!(
        "  queries          {} measured after {} warm-up: {} one-word, {} two-word, {} filtered",
        thousands(measured.len()),
        warmup.len(),
        thousands(one_word),
        thousands(measured.len() - one_word),
        thousands(filtered)
    );
    println!(
        "  matches/query    {} mean, {} queries with none",
        thousands(total_matches / measured.len().max(1)),
        zero_hits
    );
    println!("  search threads   {}", search_threads());
    println!(
        "  RSS              {} (peak {}; {} heap, {} mapped index files)",
        human_kib(rss.total),
        human_kib(rss.peak),
        human_kib(rss.anon),
        human_kib(rss.file)
    );
    println!();
    println!(
        "  {:<38} {:>9} {:>9} {:>9} {:>9}",
        "latency (ms)", "p50", "p99", "mean", "max"
    );
    print_row("SearchIndex::search (count+snippets)", &ours);
    print_row("raw tantivy TopDocs(10)", &baseline);
    let ratio = |f: fn(&Histogram<u64>) -> f64| f(&ours) / f(&baseline).max(f64::MIN_POSITIVE);
    println!(
        "  {:<38} {:>8.2}x {:>8.2}x {:>8.2}x {:>8.2}x",
        "ratio",
        ratio(|h| h.value_at_quantile(0.5) as f64),
        ratio(|h| h.value_at_quantile(0.99) as f64),
        ratio(|h| h.mean()),
        ratio(|h| h.max() as f64),
    );
    println!();
    for (name, h) in [
        "  one word, no filter",
        "  two words, no filter",
        "  with a filter",
    ]
    .iter()
    .zip(&by_class)
    {
        print_row(&format!("{name} ({})", h.len()), h);
    }
    Ok(())
}

enum Build {
    Built(Duration),
    Cached(Option<Duration>),
}

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .replace(['_', ','], "")
            .parse()
            .with_context(|| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

fn seed_path(workspace: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("GONGKAI_SEED") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("GONGKAI_SEED={} does not exist", p.display());
        }
        return Ok(p);
    }
    let candidates = [
        workspace.join("deploy/seed/work-summaries.txt"),
        PathBuf::from(FALLBACK_SEED),
    ];
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    bail!(
        "no seed text found: set GONGKAI_SEED to a Chinese text file, or provide one of {}",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

struct Vocabulary {
    words: Vec<String>,
    word_weights: WeightedIndex<u32>,
    bigrams: Vec<String>,
    bigram_weights: WeightedIndex<u32>,
}

impl Vocabulary {
    fn from_text(text: &str) -> Result<Self> {
        let mut counts: HashMap<String, u32> = HashMap::new();
        let mut tokenizer = tantivy_jieba::JiebaTokenizer::with_search_mode(false);
        let mut stream = tokenizer.token_stream(text);
        while let Some(token) = stream.next() {
            let n = token.text.chars().count();
            if (1..=8).contains(&n) && token.text.chars().all(is_han) {
                *counts.entry(token.text.clone()).or_default() += 1;
            }
        }
        // HashMap order is random per process; the corpus must not be.
        let mut words: Vec<(String, u32)> = counts.into_iter().collect();
        words.sort();
        let bigrams: Vec<(String, u32)> = words
            .iter()
            .filter(|(w, _)| w.chars().count() == 2)
            .cloned()
            .collect();
        if bigrams.is_empty() {
            bail!("seed text has no two-character Chinese words");
        }
        Ok(Self {
            word_weights: WeightedIndex::new(words.iter().map(|(_, c)| *c))?,
            words: words.into_iter().map(|(w, _)| w).collect(),
            bigram_weights: WeightedIndex::new(bigrams.iter().map(|(_, c)| *c))?,
            bigrams: bigrams.into_iter().map(|(w, _)| w).collect(),
        })
    }

    /// Frequency-weighted words up to about `chars` characters, with
    /// occasional punctuation so snippets have sentence structure.
    fn text(&self, rng: &mut StdRng, chars: usize, punctuate: bool) -> String {
        let mut out = String::with_capacity(chars * 3 + 16);
        let mut len = 0;
        while len < chars {
            let word = &self.words[self.word_weights.sample(rng)];
            out.push_str(word);
            len += word.chars().count();
            if punctuate && len < chars {
                match rng.gen_range(0..100) {
                    0..=9 => out.push('，'),
                    10..=13 => out.push('。'),
                    _ => continue,
                }
                len += 1;
            }
        }
        if punctuate {
            out.push('。');
        }
        out
    }

    fn bigram(&self, rng: &mut StdRng) -> &str {
        &self.bigrams[self.bigram_weights.sample(rng)]
    }
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF)
}

/// Deterministic: document `i` is the same on every run, which lets an
/// interrupted build resume from the committed watermark.
struct DocGenerator<'a> {
    vocab: &'a Vocabulary,
    rng: StdRng,
}

impl DocGenerator<'_> {
    fn next_doc(&mut self, i: usize) -> IndexedDoc {
        let rng = &mut self.rng;
        let year = rng.gen_range(YEARS);
        let day = rng.gen_range(1..=365);
        let published_on = NaiveDate::from_yo_opt(year, day).unwrap_or_default();
        let validity = match rng.gen_range(0..100) {
            0..=5 => "abolished",
            6..=9 => "expired",
            _ => "valid",
        };
        let doc_number = if rng.gen_bool(0.4) {
            format!("南政办〔{year}〕{}号", rng.gen_range(1..200))
        } else {
            String::new()
        };
        let title_len = rng.gen_range(15..=25);
        let body_len = rng.gen_range(150..=300);
        IndexedDoc {
            id: format!("0195f3a0-0000-7000-8000-{i:012x}"),
            unit: UNITS[rng.gen_range(0..UNITS.len())].to_string(),
            index_no: format!("11340823MB0000000X/{year}-{:05}", i % 100_000),
            column: COLUMNS[rng.gen_range(0..COLUMNS.len())].to_string(),
            publisher: PUBLISHERS[rng.gen_range(0..PUBLISHERS.len())].to_string(),
            validity: validity.to_string(),
            published_on,
            doc_number,
            title: self.vocab.text(rng, title_len, false),
            body: self.vocab.text(rng, body_len, true),
        }
    }
}

fn open_or_build(dir: &Path, n_docs: usize, vocab: &Vocabulary) -> Result<(SearchIndex, Build)> {
    let info_path = dir.join("bench-build-secs.txt");
    let index = match SearchIndex::open_in_dir(dir) {
        Ok(index) => index,
        Err(e) => {
            eprintln!(
                "cached index at {} unusable ({e}); rebuilding",
                dir.display()
            );
            std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
            SearchIndex::open_in_dir(dir)?
        }
    };
    let committed = usize::try_from(index.watermark()).unwrap_or(0);
    if committed == n_docs && index.num_docs() as usize == n_docs {
        let secs = std::fs::read_to_string(&info_path)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok());
        return Ok((index, Build::Cached(secs.map(Duration::from_secs_f64))));
    }
    let (index, resume_from, previous) =
        if committed > n_docs || index.num_docs() as usize != committed {
            eprintln!("cached index at {} inconsistent; rebuilding", dir.display());
            index.close()?;
            std::fs::remove_dir_all(dir)?;
            (SearchIndex::open_in_dir(dir)?, 0, 0.0)
        } else {
            let previous = std::fs::read_to_string(dir.join("bench-partial-secs.txt"))
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            (index, committed, previous)
        };
    if resume_from > 0 {
        eprintln!("resuming build at document {resume_from}");
    }

    let started = Instant::now();
    let mut generator = DocGenerator {
        vocab,
        rng: StdRng::seed_from_u64(0x6f6e_676b_6169),
    };
    let mut last_report = Instant::now();
    for i in 0..n_docs {
        let doc = generator.next_doc(i);
        if i < resume_from {
            continue;
        }
        index.upsert(&doc)?;
        let done = i + 1;
        if done.is_multiple_of(COMMIT_EVERY) || done == n_docs {
            index.commit(done as i64)?;
            let elapsed = previous + started.elapsed().as_secs_f64();
            std::fs::write(dir.join("bench-partial-secs.txt"), format!("{elapsed:.3}"))?;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            let rate = (done - resume_from) as f64 / started.elapsed().as_secs_f64();
            eprintln!("  indexed {done}/{n_docs} ({rate:.0} docs/s)");
            last_report = Instant::now();
        }
    }
    eprintln!("waiting for segment merges");
    index.close()?;
    let elapsed = Duration::from_secs_f64(previous + started.elapsed().as_secs_f64());
    std::fs::write(&info_path, format!("{:.3}", elapsed.as_secs_f64()))?;
    Ok((SearchIndex::open_in_dir(dir)?, Build::Built(elapsed)))
}

fn generate_queries(vocab: &Vocabulary, n: usize) -> Vec<SearchQuery> {
    let mut rng = StdRng::seed_from_u64(0x0071_7565_7279);
    (0..n)
        .map(|_| {
            let mut q = SearchQuery {
                limit: 10,
                ..SearchQuery::default()
            };
            q.text = vocab.bigram(&mut rng).to_string();
            if rng.gen_bool(0.4) {
                // Frequency weighting makes repeats likely; a repeated word
                // would silently turn this into a one-word query.
                let second = (0..8)
                    .map(|_| vocab.bigram(&mut rng))
                    .find(|w| *w != q.text);
                if let Some(second) = second {
                    q.text = format!("{} {second}", q.text);
                }
            }
            if rng.gen_bool(0.3) {
                match rng.gen_range(0..4) {
                    0 => q.column = Some(COLUMNS[rng.gen_range(0..COLUMNS.len())].to_string()),
                    1 => q.year = Some(rng.gen_range(YEARS)),
                    2 => q.validity = Some("abolished".to_string()),
                    _ => q.unit = Some(UNIT_FILTERS[rng.gen_range(0..UNIT_FILTERS.len())].into()),
                }
            }
            q
        })
        .collect()
}

fn has_filter(q: &SearchQuery) -> bool {
    q.column.is_some()
        || q.year.is_some()
        || q.validity.is_some()
        || q.publisher.is_some()
        || q.unit.is_some()
}

/// The same index opened directly, queried the way `SearchIndex` builds its
/// query for two-character words, minus counting, stored fields and snippets.
struct RawIndex {
    reader: tantivy::IndexReader,
    title: Field,
    body: Field,
    column: Field,
    year: Field,
    validity: Field,
    unit_path: Field,
}

impl RawIndex {
    fn open(dir: &Path) -> Result<Self> {
        let mut index = Index::open_in_dir(dir)?;
        let threads = search_threads();
        if threads > 1 {
            index.set_multithread_executor(threads)?;
        }
        let schema = index.schema();
        Ok(Self {
            title: schema.get_field("title")?,
            body: schema.get_field("body")?,
            column: schema.get_field("column")?,
            year: schema.get_field("year")?,
            validity: schema.get_field("validity")?,
            unit_path: schema.get_field("unit_path")?,
            reader: index
                .reader_builder()
                .reload_policy(ReloadPolicy::Manual)
                .try_into()?,
        })
    }

    fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    fn top10(&self, q: &SearchQuery) -> Result<Vec<(f32, tantivy::DocAddress)>> {
        let term = |field: Field, text: &str, opt| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(field, text), opt))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = q
            .text
            .split_whitespace()
            .map(|word| -> (Occur, Box<dyn Query>) {
                let union = BooleanQuery::new(vec![
                    (
                        Occur::Should,
                        Box::new(BoostQuery::new(
                            term(self.title, word, IndexRecordOption::WithFreqs),
                            TITLE_BOOST,
                        )) as Box<dyn Query>,
                    ),
                    (
                        Occur::Should,
                        term(self.body, word, IndexRecordOption::WithFreqs),
                    ),
                ]);
                (Occur::Must, Box::new(union))
            })
            .collect();
        let basic = IndexRecordOption::Basic;
        if let Some(c) = &q.column {
            clauses.push((Occur::Must, term(self.column, c, basic)));
        }
        if let Some(v) = &q.validity {
            clauses.push((Occur::Must, term(self.validity, v, basic)));
        }
        if let Some(u) = &q.unit {
            clauses.push((Occur::Must, term(self.unit_path, u, basic)));
        }
        if let Some(y) = q.year {
            let t = Term::from_field_i64(self.year, i64::from(y));
            clauses.push((Occur::Must, Box::new(TermQuery::new(t, basic))));
        }
        let query: Box<dyn Query> = if clauses.len() == 1 {
            clauses.remove(0).1
        } else {
            Box::new(BooleanQuery::new(clauses))
        };
        let searcher = self.reader.searcher();
        Ok(searcher.search(&*query, &TopDocs::with_limit(10).order_by_score())?)
    }
}

fn search_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

fn new_histogram() -> Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

fn record(h: &mut Histogram<u64>, d: Duration) -> Result<()> {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    h.record(micros)?;
    Ok(())
}

fn print_row(name: &str, h: &Histogram<u64>) {
    let ms = |us: f64| us / 1000.0;
    println!(
        "  {:<38} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        name,
        ms(h.value_at_quantile(0.5) as f64),
        ms(h.value_at_quantile(0.99) as f64),
        ms(h.mean()),
        ms(h.max() as f64),
    );
}

fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let meta = entry?.metadata()?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

/// Resident set size in KiB, from /proc (Linux only; zeros elsewhere).
struct Rss {
    total: u64,
    peak: u64,
    /// Heap and other anonymous memory.
    anon: u64,
    /// Resident pages of memory-mapped files, mostly the index.
    file: u64,
}

impl Rss {
    fn read() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Self {
            total: field("VmRSS:"),
            peak: field("VmHWM:"),
            anon: field("RssAnon:"),
            file: field("RssFile:"),
        }
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn human_kib(kib: u64) -> String {
    human_bytes(kib * 1024)
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
