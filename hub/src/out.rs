//! Standard output for the binary: every line it prints goes through
//! [`out!`](crate::out!) / [`outln!`](crate::outln!), which write through the
//! locked stdout and return a write error with `?` instead of panicking as
//! `print!` does. `main` ends quietly with exit 0 when the error is a closed
//! pipe (`lianfang-hub export … | head`), see [`is_broken_pipe`].

use std::io::Write as _;

/// Writes `args` to stdout; `newline` adds a line end.
///
/// # Errors
/// The write error, e.g. [`std::io::ErrorKind::BrokenPipe`].
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_fmt(args)?;
    if newline {
        stdout.write_all(b"\n")?;
    }
    Ok(())
}

/// Flushes stdout, so a write error surfaces before `main` returns.
///
/// # Errors
/// The write error.
pub fn flush() -> std::io::Result<()> {
    std::io::stdout().lock().flush()
}

/// True when `err`, or an error in its chain, is a write into a closed pipe:
/// the reader has all it wanted, so the command stops quietly.
pub fn is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(err), |e| e.source()).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `print!` to stdout that returns the write error with `?` (the caller must
/// return a `Result` an `io::Error` converts into).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(::std::format_args!($($arg)*), false)?
    };
}

/// `println!` to stdout that returns the write error with `?`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::write(::std::format_args!($($arg)*), true)?
    };
}
