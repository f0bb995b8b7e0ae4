//! The same event captured with posthog-rs's blocking client.

fn main() {
    let client = posthog_rs::client("phc_minimal");
    let mut event = posthog_rs::Event::new_anon("started");
    let _ = event.insert_prop("args", std::env::args().count());
    client.capture(event);
    client.shutdown();
}
