// Bytes and characters are text: no container of them is public by
// default, whatever its shape. Each field is reported as free text.
use std::ffi::OsString;
use std::path::PathBuf;
use telemetry_runtime::TelemetryEvent;

/// An artifact was built.
#[derive(TelemetryEvent)]
struct ArtifactBuilt<'a> {
    data: Vec<u8>,
    digest: [u8; 32],
    raw: &'a [u8],
    boxed: Box<[u8]>,
    wide: Vec<u16>,
    letters: Vec<char>,
    initial: char,
    artifact: PathBuf,
    program: OsString,
    maybe: Option<Vec<u8>>,
}

fn main() {}
