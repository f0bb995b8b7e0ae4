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

/// The sensitive vocabulary, by category: a name with one of these words as
/// a whole snake_case segment looks sensitive.
pub(crate) const SENSITIVE: &[(&str, &[&str])] = &[
    (
        "contact details",
        &[
            "email",
            "emails",
            "mail",
            "mailto",
            "phone",
            "phones",
            "telephone",
            "mobile",
            "fax",
            "address",
            "addresses",
            "addr",
            "street",
            "postcode",
            "postal",
            "zipcode",
            "contact",
            "contacts",
        ],
    ),
    (
        "file system",
        &[
            "path",
            "paths",
            "file",
            "files",
            "filename",
            "filenames",
            "dir",
            "dirs",
            "directory",
            "directories",
            "folder",
            "folders",
            "cwd",
            "pwd",
            "home",
            "homedir",
            "workspace",
            "repo",
            "repository",
        ],
    ),
    (
        "network locations",
        &[
            "url",
            "urls",
            "uri",
            "uris",
            "link",
            "links",
            "href",
            "host",
            "hosts",
            "hostname",
            "hostnames",
            "domain",
            "domains",
            "ip",
            "ips",
            "ipv4",
            "ipv6",
            "endpoint",
            "endpoints",
            "referer",
            "referrer",
            "ssid",
        ],
    ),
    (
        "credentials",
        &[
            "token",
            "tokens",
            "password",
            "passwords",
            "passwd",
            "passphrase",
            "secret",
            "secrets",
            "apikey",
            "credential",
            "credentials",
            "auth",
            "authorization",
            "bearer",
            "cookie",
            "cookies",
            "jwt",
            "otp",
            "cert",
            "certificate",
            "signature",
        ],
    ),
    (
        "conversation and document content",
        &[
            "query",
            "queries",
            "prompt",
            "prompts",
            "message",
            "messages",
            "msg",
            "content",
            "contents",
            "text",
            "body",
            "response",
            "responses",
            "reply",
            "replies",
            "chat",
            "conversation",
            "transcript",
            "completion",
            "completions",
            "instruction",
            "instructions",
            "comment",
            "comments",
            "note",
            "notes",
            "title",
            "subject",
            "snippet",
            "clipboard",
            "screenshot",
            "document",
            "documents",
            "html",
            "selection",
            "question",
            "answer",
            "history",
            "task",
            "tasks",
        ],
    ),
    (
        "command lines and arguments",
        &["cmd", "cmdline", "argv", "arg", "args", "argument", "arguments", "stdin", "stdout", "stderr"],
    ),
    (
        "personal and government identifiers",
        &[
            "user",
            "users",
            "username",
            "usernames",
            "login",
            "account",
            "accounts",
            "firstname",
            "lastname",
            "fullname",
            "surname",
            "realname",
            "nickname",
            "birthday",
            "birthdate",
            "dob",
            "gender",
            "ssn",
            "passport",
            "nationalid",
            "taxid",
            "iban",
            "card",
            "creditcard",
            "person",
            "people",
            "customer",
            "author",
            "employee",
            "patient",
        ],
    ),
    (
        "device identifiers and location",
        &[
            "imei",
            "udid",
            "idfa",
            "hwid",
            "serial",
            "fingerprint",
            "location",
            "geo",
            "gps",
            "latitude",
            "longitude",
        ],
    ),
];

/// Two-segment phrases that are sensitive although neither word is alone.
const SENSITIVE_PHRASES: &[(&str, &str, &str, &str)] = &[
    ("command", "line", "command_line", "command lines and arguments"),
    ("first", "name", "first_name", "personal and government identifiers"),
    ("last", "name", "last_name", "personal and government identifiers"),
    ("full", "name", "full_name", "personal and government identifiers"),
    ("real", "name", "real_name", "personal and government identifiers"),
    ("display", "name", "display_name", "personal and government identifiers"),
    ("birth", "date", "birth_date", "personal and government identifiers"),
    ("zip", "code", "zip_code", "contact details"),
    ("machine", "name", "machine_name", "device identifiers and location"),
];

/// Words found inside a compound segment too (`emailaddress`,
/// `serverurl`): long or distinctive enough not to match honest words,
/// with the honest words that contain them in [`BENIGN_COMPOUNDS`].
const COMPOUND_WORDS: &[&str] = &[
    "email",
    "mail",
    "phone",
    "address",
    "path",
    "filename",
    "dirname",
    "homedir",
    "workdir",
    "url",
    "hostname",
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "accesskey",
    "secretkey",
    "credential",
    "cookie",
    "auth",
    "prompt",
    "message",
    "query",
    "content",
    "transcript",
    "conversation",
    "cmdline",
    "commandline",
    "argv",
    "username",
    "user",
    "login",
    "account",
    "firstname",
    "lastname",
    "fullname",
    "birth",
    "passport",
    "creditcard",
    "iban",
    "ipaddr",
    "ipv4",
    "ipv6",
];

/// Honest words that contain a word of [`COMPOUND_WORDS`]. Only the honest
/// word itself is passed over: the rest of the segment is still searched,
/// so `curlpassword` and `authoremail` are found.
const BENIGN_COMPOUNDS: &[&str] = &[
    "tokenizer",
    "tokenize",
    "curl",
    "xpath",
    "pathfinder",
    "contentful",
    "superuser",
    "author",
    "authority",
    "jquery",
    "secretary",
];

/// Words that make a name an identifier when they end it: an identifier
/// needs a reason whatever its type (`user_id: u64` is as personal as a
/// name).
pub(crate) const IDENTIFIERS: &[&str] = &[
    "id",
    "ids",
    "uuid",
    "uuids",
    "guid",
    "key",
    "keys",
    "hash",
    "hashes",
    "handle",
    "handles",
    "fingerprint",
];

/// A first segment that makes a name a measure of something rather than the
/// thing itself: `num_ids`, `has_api_key`. A name that ends like an
/// identifier but starts with one of these is not an identifier; its type
/// must still be a measure or a closed set to go without a reason.
pub(crate) const MEASURE_PREFIXES: &[&str] =
    &["num", "n", "has", "is", "count", "total", "max", "min", "avg"];

/// Why a name sent as public needs a written reason.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sensitive {
    /// It names an identifier (`*_id`, keys, hashes, handles): a reason is
    /// needed whatever the type.
    Identifier(&'static str),
    /// It contains a word of the vocabulary: the word and its category. A
    /// reason is needed unless the type is a measure or a closed set.
    Word(&'static str, &'static str),
}

/// Whether `name`, sent as public, needs a reason, and why.
///
/// The name alone decides whether it looks sensitive; whether a sensitive
/// word still needs a reason is decided by the field's type, through the
/// traits (a measure or a value of a closed set needs none), never by how
/// the type is spelled. Identifiers need one whatever their type.
pub(crate) fn sensitivity(name: &str) -> Option<Sensitive> {
    let segments: Vec<&str> = name.split('_').filter(|s| !s.is_empty()).collect();
    let (first, last) = (*segments.first()?, *segments.last()?);
    if let Some(word) = IDENTIFIERS.iter().find(|w| **w == last) {
        if !MEASURE_PREFIXES.contains(&first) {
            return Some(Sensitive::Identifier(word));
        }
        return Some(Sensitive::Word(word, "identifiers"));
    }
    sensitive_word(&segments).map(|(word, category)| Sensitive::Word(word, category))
}

/// The first sensitive word of a name split in segments, with its category.
fn sensitive_word(segments: &[&str]) -> Option<(&'static str, &'static str)> {
    for segment in segments {
        for (category, words) in SENSITIVE {
            if let Some(word) = words.iter().find(|w| *w == segment) {
                return Some((word, category));
            }
        }
    }
    for pair in segments.windows(2) {
        if let Some((_, _, phrase, category)) = SENSITIVE_PHRASES.iter().find(|(a, b, ..)| pair == [*a, *b]) {
            return Some((phrase, category));
        }
    }
    for segment in segments {
        let rest = without_benign_compounds(segment);
        if let Some(word) = COMPOUND_WORDS.iter().find(|w| rest.contains(*w)) {
            let category = SENSITIVE
                .iter()
                .find(|(_, words)| words.iter().any(|w| w.contains(word) || word.contains(w)))
                .map_or("personal data", |(category, _)| category);
            return Some((word, category));
        }
    }
    None
}

/// `segment` with each honest compound (`curl`, `author`, ...) blanked
/// out, so that what remains around it is still searched: `curlpassword`
/// keeps `password`. Longer honest words are blanked first (`authority`
/// before `author`).
fn without_benign_compounds(segment: &str) -> String {
    let mut benign: Vec<&str> = BENIGN_COMPOUNDS.to_vec();
    benign.sort_by_key(|word| std::cmp::Reverse(word.len()));
    let mut rest = segment.to_owned();
    for word in benign {
        rest = rest.replace(word, &" ".repeat(word.len()));
    }
    rest
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

    fn word(name: &str) -> Option<&'static str> {
        match sensitivity(name)? {
            Sensitive::Identifier(word) | Sensitive::Word(word, _) => Some(word),
        }
    }

    #[test]
    fn sensitive_words() {
        assert_eq!(word("server_url"), Some("url"));
        assert_eq!(sensitivity("user_id"), Some(Sensitive::Identifier("id")));
        assert_eq!(sensitivity("session_id"), Some(Sensitive::Identifier("id")));
        assert_eq!(sensitivity("api_key"), Some(Sensitive::Identifier("key")));
        assert_eq!(word("emailaddress"), Some("email"));
        assert_eq!(word("serverurl"), Some("url"));
        assert_eq!(word("user_email_len"), Some("user"));
        assert_eq!(word("command_line"), Some("command_line"));
        assert_eq!(word("raw_argv"), Some("argv"));
        assert_eq!(word("passport_number"), Some("passport"));
        assert_eq!(word("chat_transcript"), Some("chat"));
        assert_eq!(word("prompt_len"), Some("prompt"));
        assert_eq!(word("prompt_tokens"), Some("prompt"));
        assert_eq!(word("files_scanned"), Some("files"));
        assert_eq!(word("auth_method"), Some("auth"));
        assert_eq!(word("keyboard_layout"), None);
        assert_eq!(word("tokenizer"), None);
        assert_eq!(word("tool_name"), None);
        assert_eq!(word("skip_reason"), None);
        assert_eq!(word("pipeline_stage"), None);
        assert_eq!(word("profile"), None);
        assert_eq!(word("transport"), None);
    }

    #[test]
    fn a_measure_of_identifiers_is_not_an_identifier() {
        assert_eq!(sensitivity("num_ids"), Some(Sensitive::Word("ids", "identifiers")));
        assert_eq!(sensitivity("has_api_key"), Some(Sensitive::Word("key", "identifiers")));
        assert_eq!(
            sensitivity("user_id_count"),
            Some(Sensitive::Word("user", "personal and government identifiers"))
        );
    }

    /// An honest compound hides nothing next to it.
    #[test]
    fn honest_compounds_do_not_hide_sensitive_words() {
        assert_eq!(word("authoremail"), Some("email"));
        assert_eq!(word("curlpassword"), Some("password"));
        assert_eq!(word("superuserpassword"), Some("password"));
        assert_eq!(word("jqueryurl"), Some("url"));
        assert_eq!(word("tokenizer_secret"), Some("secret"));
        assert_eq!(word("secretarytoken"), Some("token"));
        for honest in
            ["tokenizer", "curl", "superuser", "authority", "jquery", "secretary", "contentful", "xpath"]
        {
            assert_eq!(word(honest), None, "{honest}");
        }
    }

    /// The runtime's documentation of the audit names every word used here.
    #[test]
    fn the_documented_vocabulary_is_the_enforced_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../telemetry-runtime/src/audit.md");
        let doc = std::fs::read_to_string(path).expect("the audit's documentation");
        let words = SENSITIVE
            .iter()
            .flat_map(|(category, words)| std::iter::once(*category).chain(words.iter().copied()))
            .chain(SENSITIVE_PHRASES.iter().map(|(_, _, phrase, _)| *phrase))
            .chain(COMPOUND_WORDS.iter().copied())
            .chain(BENIGN_COMPOUNDS.iter().copied())
            .chain(IDENTIFIERS.iter().copied())
            .chain(MEASURE_PREFIXES.iter().copied());
        for word in words {
            assert!(
                doc.contains(&format!("`{word}`")) || doc.contains(&format!("**{word}**")),
                "audit.md does not list `{word}`"
            );
        }
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
