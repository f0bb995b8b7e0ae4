//! The same event built for posthog-rs. With default features its client is
//! async; an application would also bring the runtime to drive it (not
//! counted here, in posthog-rs's favour).

fn main() {
    let mut event = posthog_rs::Event::new_anon("started");
    let _ = event.insert_prop("args", std::env::args().count());
    let options: posthog_rs::ClientOptions = "phc_minimal".into();
    let _client = posthog_rs::client(options); // a future, never polled
    println!("{}", event.event_name());
}
