//! Why a subcommand could not run: [`CommandError`].

use std::fmt;
use std::io;

/// A subcommand that could not run; its [`source`](std::error::Error::source)
/// is the I/O error behind it, when there is one. Its own message says what
/// could not be done and the source says why, each once: print the chain
/// (`anyhow`'s `{:#}`, or a loop over `source()`) to show both.
#[derive(Debug)]
pub struct CommandError {
    message: String,
    source: Option<io::Error>,
}

impl CommandError {
    pub(super) fn new(message: String) -> CommandError {
        CommandError { message, source: None }
    }

    /// `what` could not be done because of `err` (the source, not repeated
    /// in the message).
    pub(super) fn io(what: &str, err: io::Error) -> CommandError {
        CommandError { message: what.to_owned(), source: Some(err) }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|err| err as _)
    }
}

/// A failed write of the command's output (`?` on `writeln!`).
impl From<io::Error> for CommandError {
    fn from(err: io::Error) -> CommandError {
        CommandError::io("cannot write the command's output", err)
    }
}
