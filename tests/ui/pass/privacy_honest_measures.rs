// Honest measures of sensitive things compile without a reason: their
// types cannot carry text. Identifiers compile with a written reason.
use std::time::Duration;
use telemetry_runtime::{requires_telemetry, TelemetryEvent};

/// A model call finished.
#[derive(TelemetryEvent)]
struct ModelCall {
    num_existing_messages: usize,
    has_prompt: bool,
    prompt_tokens: u32,
    token_counts: Vec<u32>,
    user_count: Option<u64>,
    query_duration: Duration,
    /// Drawn per run, never stored: it only groups this run's events.
    #[telemetry(reason = "a random id drawn per run, linked to nothing")]
    run_id: uuid::Uuid,
}

#[requires_telemetry(instrument, args(prompt_tokens))]
fn complete(prompt_tokens: u32) -> u32 {
    prompt_tokens
}

fn main() {
    let _ = ModelCall {
        num_existing_messages: 1,
        has_prompt: true,
        prompt_tokens: 2,
        token_counts: vec![3],
        user_count: None,
        query_duration: Duration::ZERO,
        run_id: uuid::Uuid::nil(),
    };
    assert_eq!(complete(3), 3);
}
