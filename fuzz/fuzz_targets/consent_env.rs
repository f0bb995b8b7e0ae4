//! Consent resolution from arbitrary environment values, through the public
//! API: `Telemetry::new` with an injected environment. Never panics, and
//! fails closed: a value of the app's variable that is not understood means
//! Off; `DO_NOT_TRACK` with any value but an "off" word means Off; CI
//! variables turn it off.

#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use telemetry_runtime::{Config, ConsentSource, Level, Polarity, Telemetry};

#[derive(Arbitrary, Debug)]
struct Env {
    app: Option<String>,
    legacy: Option<String>,
    do_not_track: Option<String>,
    ci: Option<String>,
    default_full: bool,
}

fn dirs() -> &'static (std::path::PathBuf, std::path::PathBuf) {
    static DIRS: OnceLock<(std::path::PathBuf, std::path::PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        // Never created: the saved choice is simply absent.
        let root = std::env::temp_dir().join(format!("telemetry-fuzz-{}", std::process::id()));
        (root.join("cache"), root.join("config"))
    })
}

fn set(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.trim().is_empty())
}

fuzz_target!(|env: Env| {
    let mut vars = HashMap::new();
    for (name, value) in [
        ("FUZZ_TELEMETRY", &env.app),
        ("FUZZ_NO_TELEMETRY", &env.legacy),
        ("DO_NOT_TRACK", &env.do_not_track),
        ("CI", &env.ci),
    ] {
        if let Some(value) = value {
            vars.insert(name.to_owned(), value.clone());
        }
    }
    let (cache, config) = dirs();
    let default = if env.default_full { Level::Full } else { Level::Usage };
    let telemetry = Telemetry::new(
        Config::new("fuzz", "1")
            .environment(move |name| vars.get(name).cloned())
            .env(|mut e| {
                e.legacy.push(("FUZZ_NO_TELEMETRY".into(), Polarity::Disables));
                e
            })
            .default_level(default)
            .dirs(|d| telemetry_runtime::Dirs {
                cache: Some(cache.clone()),
                config: Some(config.clone()),
                ..d
            }),
    )
    .expect("a valid configuration");
    let consent = telemetry.consent();

    if set(&env.app) {
        let value = env.app.as_deref().unwrap_or_default();
        assert_eq!(consent.source, ConsentSource::EnvVar("FUZZ_TELEMETRY".into()), "{value:?}");
        match value.parse::<Level>().ok() {
            Some(level) => assert_eq!(consent.level, level, "{value:?}"),
            // `local` (usage, kept on this machine) is a choice too.
            None if value.trim().eq_ignore_ascii_case("local") => {}
            None => assert_eq!(consent.level, Level::Off, "{value:?} must fail closed"),
        }
        return;
    }
    if set(&env.legacy) {
        let value = env.legacy.as_deref().unwrap_or_default();
        if value.parse::<Level>().ok() != Some(Level::Off) {
            // A "disable" variable set to anything but "no": off.
            assert_eq!(consent.level, Level::Off, "{value:?}");
            return;
        }
    }
    if set(&env.do_not_track)
        && env.do_not_track.as_deref().unwrap_or_default().parse::<Level>().ok() != Some(Level::Off)
    {
        assert_eq!((consent.level, consent.source.clone()), (Level::Off, ConsentSource::DoNotTrack));
        return;
    }
    if set(&env.ci) && env.ci.as_deref().unwrap_or_default().parse::<Level>().ok() != Some(Level::Off) {
        assert_eq!(consent.level, Level::Off, "CI={:?}", env.ci);
        return;
    }
    assert!(consent.level == default || consent.level == Level::Off, "{consent:?}");
});
