// What a type can hold decides, not how it is spelled: a measure or a
// value of a closed set under a sensitive word needs no reason (a number,
// bool, duration, a derived enum, a newtype over a number, a map from an
// enum to numbers, an object whose fields are all public); identifiers
// compile with a written reason.
use std::collections::BTreeMap;
use std::time::Duration;
use telemetry_runtime::{requires_telemetry, TelemetryEvent, TelemetryProperty};

/// A count of tokens.
#[derive(TelemetryProperty)]
struct TokenCount(u32);

/// How the user signed in.
#[derive(TelemetryProperty, Clone, Copy)]
enum AuthMethod {
    Password,
    Token,
}

/// A file extension the scanner knows.
#[derive(TelemetryProperty, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ext {
    Rs,
    Toml,
}

/// How a conversation went, in numbers.
#[derive(TelemetryProperty)]
struct ConversationStats {
    messages: u32,
    auth_method: AuthMethod,
}

/// A model call finished.
#[derive(TelemetryEvent)]
struct ModelCall {
    num_existing_messages: usize,
    has_prompt: bool,
    prompt_tokens: TokenCount,
    token_counts: Vec<u32>,
    user_count: Option<u64>,
    query_duration: Duration,
    auth_method: AuthMethod,
    #[telemetry(public)]
    login_methods: Vec<AuthMethod>,
    files_scanned: u64,
    files_by_ext: BTreeMap<Ext, u64>,
    conversation: ConversationStats,
    num_ids: u32,
    has_api_key: bool,
    /// Drawn per run, never stored: it only groups this run's events.
    #[telemetry(reason = "a random id drawn per run, linked to nothing")]
    run_id: uuid::Uuid,
}

#[requires_telemetry(instrument, args(prompt_tokens, files_scanned, auth_method))]
fn complete(prompt_tokens: u32, files_scanned: u64, auth_method: AuthMethod) -> u32 {
    let _ = (files_scanned, auth_method);
    prompt_tokens
}

fn main() {
    let _ = ModelCall {
        num_existing_messages: 1,
        has_prompt: true,
        prompt_tokens: TokenCount(2),
        token_counts: vec![3],
        user_count: None,
        query_duration: Duration::ZERO,
        auth_method: AuthMethod::Password,
        login_methods: vec![AuthMethod::Token],
        files_scanned: 12,
        files_by_ext: BTreeMap::from([(Ext::Rs, 10), (Ext::Toml, 2)]),
        conversation: ConversationStats { messages: 4, auth_method: AuthMethod::Token },
        num_ids: 2,
        has_api_key: false,
        run_id: uuid::Uuid::nil(),
    };
    assert_eq!(complete(3, 4, AuthMethod::Password), 3);
}
