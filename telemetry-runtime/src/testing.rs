//! For the tests of a program that uses this library: a sink that keeps
//! what it is given, and the check that the committed catalog page is
//! current.
//!
//! ```
//! use telemetry_runtime::testing::MemorySink;
//! use telemetry_runtime::{Config, Level, Telemetry};
//!
//! telemetry_runtime::event! {
//!     /// A build finished.
//!     static BUILT = "built" {
//!         /// Whether it succeeded.
//!         ok: bool,
//!     }
//! }
//!
//! let memory = MemorySink::new();
//! let telemetry = Telemetry::new(Config::new("mytool", "1.0.0").consent(Level::Usage).sink(memory.clone()))?;
//! telemetry.capture_with(&BUILT, telemetry_runtime::Properties::new().with("ok", true));
//! assert!(telemetry.flush(std::time::Duration::from_secs(5)));
//! assert_eq!(memory.events()[0]["properties"]["ok"], true);
//! # Ok::<(), telemetry_runtime::ConfigError>(())
//! ```

use std::path::Path;

pub use crate::sink::memory::MemorySink;
use crate::Catalog;

/// Compares the catalog's Markdown page with the file at `path`, the page
/// the program commits for its users (`TELEMETRY.md`); call it from one
/// test of the program. With the environment variable
/// `TELEMETRY_CATALOG_UPDATE=1` the file is rewritten instead. When they
/// differ, the error is of kind `InvalidData` and its message shows the
/// differences line by line; when the file cannot be rewritten, the error
/// says so and its source is the reason.
///
/// ```
/// use telemetry_runtime::{testing, Catalog};
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("TELEMETRY.md");
/// std::fs::write(&path, "# An old page\n")?;
/// let err = testing::check_catalog_file(&Catalog::collect(), "mytool", &path).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
/// assert!(err.to_string().contains("- # An old page"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_catalog_file(catalog: &Catalog, app_name: &str, path: impl AsRef<Path>) -> std::io::Result<()> {
    catalog.check_markdown_file(app_name, path)
}
