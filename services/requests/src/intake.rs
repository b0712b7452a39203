//! Intake helpers: tracking numbers, query codes (hashed, compared in
//! constant time, guessing rate-limited) and the keys that find repeated
//! requests without keeping identity in the clear in indexes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Letters and digits that cannot be mistaken for one another when read
/// aloud or copied from paper (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const CODE_LEN: usize = 10;

/// A fresh query code, shown to the applicant once.
pub fn new_query_code() -> String {
    let mut rng = rand::thread_rng();
    (0..CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// What is stored: a salted SHA-256 (salt$hash), never the code itself.
pub fn hash_query_code(code: &str) -> String {
    let salt: [u8; 16] = rand::thread_rng().r#gen();
    let salt = B64.encode(salt);
    format!("{salt}${}", digest(&salt, code))
}

fn digest(salt: &str, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b"\0");
    h.update(code.trim().to_ascii_uppercase().as_bytes());
    B64.encode(h.finalize())
}

/// Compares in constant time so the answer's timing says nothing.
pub fn query_code_matches(stored: &str, code: &str) -> bool {
    let Some((salt, hash)) = stored.split_once('$') else {
        return false;
    };
    let given = digest(salt, code);
    given.as_bytes().ct_eq(hash.as_bytes()).into()
}

/// `YSQ-<year>-<6-digit sequence>`: 依申请 and the year, unique per unit.
pub fn tracking_no(prefix: &str, year: i32, seq: i64) -> String {
    format!("{prefix}-{year}-{seq:06}")
}

/// The applicant's key: who asks, for per-applicant counting (monthly fees,
/// repeated requests). A hash, so the indexes do not hold identity numbers.
pub fn applicant_key(id_type: &str, id_number: &str, name: &str) -> String {
    let mut h = Sha256::new();
    if id_number.trim().is_empty() {
        h.update(b"name\0");
        h.update(name.trim().as_bytes());
    } else {
        h.update(id_type.as_bytes());
        h.update(b"\0");
        h.update(id_number.trim().to_ascii_uppercase().as_bytes());
    }
    B64.encode(&h.finalize()[..18])
}

/// The information key: the description with whitespace and punctuation
/// removed and ASCII folded, hashed. Two requests with the same key ask for
/// the same information in the same words.
pub fn info_key(description: &str) -> String {
    let norm: String = description
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let mut h = Sha256::new();
    h.update(norm.as_bytes());
    B64.encode(&h.finalize()[..18])
}

/// Failed query-code attempts per key (tracking number, caller address),
/// in a sliding window. In memory: a restart forgives, which is fine for a
/// limit meant to make guessing 10-character codes hopeless.
pub struct Limiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Limiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Vec<Instant>>) -> T) -> T {
        let mut g = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Whether `key` may try again now.
    pub fn allowed(&self, key: &str) -> bool {
        let now = Instant::now();
        self.with(|m| {
            let Some(v) = m.get_mut(key) else { return true };
            v.retain(|t| now.duration_since(*t) < self.window);
            v.len() < self.max_failures
        })
    }

    pub fn failed(&self, key: &str) {
        let now = Instant::now();
        self.with(|m| {
            // Bound memory under a flood of distinct keys.
            if m.len() > 100_000 {
                m.retain(|_, v| v.iter().any(|t| now.duration_since(*t) < self.window));
            }
            m.entry(key.to_owned()).or_default().push(now);
        });
    }

    pub fn succeeded(&self, key: &str) {
        self.with(|m| {
            m.remove(key);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_codes_verify_only_themselves() {
        let code = new_query_code();
        assert_eq!(code.len(), CODE_LEN);
        let stored = hash_query_code(&code);
        assert!(!stored.contains(&code));
        assert!(query_code_matches(&stored, &code));
        assert!(
            query_code_matches(&stored, &code.to_ascii_lowercase()),
            "case-insensitive"
        );
        assert!(!query_code_matches(&stored, "WRONGCODE2"));
        assert!(!query_code_matches("garbage", &code));
        // The same code hashes differently each time (salted).
        assert_ne!(hash_query_code(&code), stored);
    }

    #[test]
    fn keys_fold_what_does_not_matter() {
        assert_eq!(info_key("2025年 财政预算！"), info_key("2025年财政预算"));
        assert_ne!(info_key("2025年财政预算"), info_key("2025年财政决算"));
        assert_eq!(
            applicant_key("resident_id", "11010519491231002x", "张三"),
            applicant_key("resident_id", "11010519491231002X", "张三 ")
        );
        assert_ne!(applicant_key("", "", "张三"), applicant_key("", "", "李四"));
        assert_eq!(tracking_no("YSQ", 2026, 42), "YSQ-2026-000042");
    }

    #[test]
    fn limiter_blocks_after_the_limit_and_forgives_on_success() {
        let l = Limiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.allowed("k"));
            l.failed("k");
        }
        assert!(!l.allowed("k"));
        assert!(l.allowed("other"));
        l.succeeded("k");
        assert!(l.allowed("k"));
        let short = Limiter::new(1, Duration::from_millis(10));
        short.failed("k");
        assert!(!short.allowed("k"));
        std::thread::sleep(Duration::from_millis(20));
        assert!(short.allowed("k"), "the window slides");
    }
}
