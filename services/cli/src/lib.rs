//! The `gongkai` operator CLI and node launcher.

pub mod client;
pub mod commands;
pub mod import;
pub mod node;
pub mod requests_cli;
