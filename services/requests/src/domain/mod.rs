//! Request rules as plain Rust: no tonic, sqlx or NATS types here.

pub mod annual;
pub mod categories;
pub mod clock;
pub mod fees;
pub mod lifecycle;
