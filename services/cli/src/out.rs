//! Standard output that tolerates a reader going away.
//!
//! `println!` panics when standard output is a closed pipe (`gongkai search
//! 公开 | head -1`), because Rust programs ignore SIGPIPE. The CLI's output
//! goes through [`line()`] instead, which ends the program quietly then, as
//! SIGPIPE ends a C tool.

use std::io::{ErrorKind, Write as _};

/// Writes `args` and a newline to standard output. A closed pipe ends the
/// program with status 0; any other write error ends it with status 1 and
/// says why on standard error.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to standard output: {e}");
        std::process::exit(1);
    }
}
