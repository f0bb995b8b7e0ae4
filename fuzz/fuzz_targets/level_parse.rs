//! `Level`'s `FromStr`, the reader of consent values in environment variables and
//! the saved choice: never panics, ignores surrounding whitespace and ASCII
//! case, accepts only the documented words, and round-trips its own names.

#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetry_runtime::Level;

/// Every word the docs list, lower-case.
const DOCUMENTED: [(&str, Level); 13] = [
    ("0", Level::Off),
    ("false", Level::Off),
    ("no", Level::Off),
    ("off", Level::Off),
    ("disabled", Level::Off),
    ("1", Level::Usage),
    ("true", Level::Usage),
    ("yes", Level::Usage),
    ("on", Level::Usage),
    ("enabled", Level::Usage),
    ("usage", Level::Usage),
    ("full", Level::Full),
    ("all", Level::Full),
];

fuzz_target!(|data: &[u8]| {
    // Environment values reach the parser through a lossy conversion.
    let text = String::from_utf8_lossy(data);
    let parsed = text.parse::<Level>().ok();

    assert_eq!(format!(" \t{text}\r\n ").parse::<Level>().ok(), parsed, "padding changed {text:?}");
    assert_eq!(text.to_ascii_uppercase().parse::<Level>().ok(), parsed, "case changed {text:?}");
    assert_eq!(text.to_ascii_lowercase().parse::<Level>().ok(), parsed, "case changed {text:?}");

    let word = text.trim().to_ascii_lowercase();
    let documented = DOCUMENTED.iter().find(|(w, _)| *w == word).map(|(_, level)| *level);
    assert_eq!(parsed, documented, "{text:?} parsed as {parsed:?}");
    if let Some(level) = parsed {
        assert_eq!(level.to_string().parse::<Level>().ok(), Some(level));
    }
});
