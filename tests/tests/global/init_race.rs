//! Two threads calling `init` at once: the refused one must not change the
//! installed client's level. A process of its own: the global client can be
//! set once per process.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{ConfigErrorKind, Level, Properties};
use telemetry_tests::{child, Sandbox, SOON};

telemetry_runtime::event! {
    /// Captured while consent is off: never sent.
    static WITHOUT_CONSENT = "without_consent" {}
}

#[test]
fn a_refused_concurrent_init_leaves_the_installed_level_alone() {
    child::isolated("init_race::a_refused_concurrent_init_leaves_the_installed_level_alone", || {
        let first_sandbox = Sandbox::new();
        let second_sandbox = Sandbox::new();
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = std::sync::Mutex::new(Some(release_rx));
        // The first init (consent Off) pauses inside consent resolution, after
        // its "already initialised?" check.
        let memory = MemorySink::new();
        let first_config = first_sandbox
            .config()
            .default_level(Level::Off)
            .sink(memory.clone())
            .delivery(telemetry_tests::on_flush)
            .environment(move |_| {
                if let Some(release) = release_rx.lock().unwrap().take() {
                    let _ = entered_tx.send(());
                    let _ = release.recv_timeout(SOON);
                }
                None
            });
        let first = thread::spawn(move || telemetry_runtime::init(first_config));
        entered_rx.recv_timeout(SOON).expect("the first init reached consent resolution");

        // A second init (consent on) races it and must lose without touching
        // the global level.
        let second_config = second_sandbox.config().default_level(Level::Usage);
        let second = thread::spawn(move || telemetry_runtime::init(second_config).map(|_guard| ()));
        thread::sleep(Duration::from_millis(50));
        release_tx.send(()).unwrap();

        let guard = first.join().unwrap().expect("the first init installs its client");
        let refused = second.join().unwrap();
        assert!(matches!(refused, Err(ref e) if e.kind() == ConfigErrorKind::AlreadyInitialized));

        // The installed client's consent is still Off: nothing may be collected.
        assert_eq!(guard.consent().level, Level::Off);
        assert!(!telemetry_runtime::is_enabled(), "a refused init switched telemetry on");
        telemetry_runtime::capture_with(&WITHOUT_CONSENT, Properties::new());
        assert!(telemetry_runtime::global().unwrap().flush(SOON));
        assert!(memory.events().is_empty(), "an event was sent without consent");
    });
}
