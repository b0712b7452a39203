//! The `gongkai` operator CLI and node launcher.

/// `println!` for the CLI's output, through [`out::line`]: a closed pipe
/// ends the program quietly instead of panicking.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::line(::std::format_args!($($arg)*))
    };
}

pub mod client;
pub mod commands;
pub mod import;
pub mod node;
pub mod out;
pub mod requests_cli;
