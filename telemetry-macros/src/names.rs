//! Naming rules: snake_case, reserved prefixes, sensitive words, and
//! "did you mean" suggestions.

/// The longest event or property name accepted.
pub(crate) const MAX_NAME_LEN: usize = 64;

/// Why a name is refused, or `None` when it is fine.
pub(crate) fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("is empty".into())
    } else if name.starts_with('$') {
        Some("starts with `$`, which is reserved for properties the library adds".into())
    } else if name.len() > MAX_NAME_LEN {
        Some(format!("is longer than {MAX_NAME_LEN} characters"))
    } else if !is_snake_case(name) {
        let suggestion = to_snake_case(name);
        if is_snake_case(&suggestion) && suggestion.len() <= MAX_NAME_LEN {
            Some(format!("is not snake_case (try `{suggestion}`)"))
        } else {
            Some("is not snake_case: lowercase letters and digits in words joined by `_`".to_owned())
        }
    } else {
        None
    }
}

/// `^[a-z][a-z0-9]*(_[a-z0-9]+)*$`
fn is_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('_').all(|part| !part.is_empty())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `CommandRun` -> `command_run`, `HTTPRequest` -> `http_request`,
/// `HTTP/2` -> `http_2`: other characters become `_`, without doubles or
/// `_` at either end.
pub(crate) fn to_snake_case(name: &str) -> String {
    let raw = split_words(name);
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if !(c == '_' && (out.is_empty() || out.ends_with('_'))) {
            out.push(c);
        }
    }
    out.trim_end_matches('_').to_owned()
}

fn split_words(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && !out.ends_with('_') && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else if c == '-' || c == ' ' {
            out.push('_');
        } else {
            out.push(c);
        }
    }
    out
}

/// Words that suggest personal or secret data when they are a whole
/// segment of a snake_case name.
const SENSITIVE: &[&str] = &[
    "email",
    "emails",
    "mail",
    "path",
    "paths",
    "file",
    "files",
    "filename",
    "dir",
    "cwd",
    "home",
    "url",
    "urls",
    "uri",
    "link",
    "host",
    "hosts",
    "hostname",
    "domain",
    "ip",
    "addr",
    "address",
    "token",
    "password",
    "passwords",
    "passwd",
    "pwd",
    "secret",
    "secrets",
    "key",
    "keys",
    "apikey",
    "credential",
    "credentials",
    "auth",
    "cookie",
    "query",
    "queries",
    "prompt",
    "prompts",
    "message",
    "messages",
    "content",
    "user",
    "users",
    "username",
    "login",
    "account",
    "phone",
];

/// A last segment that makes the field a measure of something, not the
/// thing itself: `prompt_len`, `user_count`, `key_size` are fine.
const MEASURES: &[&str] =
    &["count", "len", "length", "size", "total", "num", "bytes", "chars", "tokens", "ms", "secs", "duration"];

/// The sensitive word in `name`, if any.
pub(crate) fn sensitive_word(name: &str) -> Option<&'static str> {
    let segments: Vec<&str> = name.split('_').filter(|s| !s.is_empty()).collect();
    if segments.last().is_some_and(|last| MEASURES.contains(last)) {
        return None;
    }
    segments.iter().find_map(|segment| SENSITIVE.iter().copied().find(|word| word == segment))
}

/// The closest of `known` to `unknown`, if it is a plausible typo.
pub(crate) fn suggest<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(unknown, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + usize::from(ca != *cb));
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case() {
        assert_eq!(to_snake_case("CommandRun"), "command_run");
        assert_eq!(to_snake_case("HTTPRequest"), "http_request");
        assert_eq!(to_snake_case("Step2Done"), "step2_done");
        assert_eq!(to_snake_case("HTTP/2"), "http_2");
        assert_eq!(to_snake_case("_reserved"), "reserved");
        assert!(name_problem("command_run").is_none());
        assert!(name_problem("CommandRun").is_some());
        assert!(name_problem("a__b").is_some());
        assert!(name_problem("$lib").unwrap().contains("reserved"));
        assert!(name_problem("").is_some());
        assert!(name_problem(&"a".repeat(65)).is_some());
    }

    #[test]
    fn sensitive_words() {
        assert_eq!(sensitive_word("server_url"), Some("url"));
        assert_eq!(sensitive_word("user_id"), Some("user"));
        assert_eq!(sensitive_word("prompt_len"), None);
        assert_eq!(sensitive_word("keyboard_layout"), None);
        assert_eq!(sensitive_word("tool_name"), None);
    }

    #[test]
    fn suggestions() {
        let keys = ["public", "redact", "opt_in", "rename", "skip", "reason"];
        assert_eq!(suggest("pubic", &keys), Some("public"));
        assert_eq!(suggest("optin", &keys), Some("opt_in"));
        assert_eq!(suggest("redacted", &keys), Some("redact"));
        assert_eq!(suggest("zzz", &keys), None);
    }
}
