//! Publishing rules as plain Rust: no tonic, sqlx or NATS types here.

pub mod catalog;
pub mod doc_number;
pub mod document;
pub mod index_no;
pub mod privacy;
pub mod workflow;
