//! Every configuration the library refuses says what it refused with a
//! `ConfigErrorKind` a caller can match on, and the groups of `Config`
//! compose: each call changes only the fields it names.

use std::time::Duration;

use telemetry_runtime::sink::{HttpOptions, HttpSink, OtlpSink, PostHogSink};
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{
    Config, ConfigError, ConfigErrorKind, Delivery, Dirs, DistinctId, EnvVars, Polarity, Route, Telemetry,
};

fn refused(config: Config) -> ConfigError {
    Telemetry::new(config.environment(|_| None)).expect_err("the configuration is refused")
}

#[test]
fn each_refusal_has_the_kind_of_what_was_refused() {
    let base = || Config::new("mytool", "1.0.0");
    let cases: Vec<(ConfigErrorKind, ConfigError)> = vec![
        (ConfigErrorKind::AppName, refused(Config::new("my tool", "1.0.0"))),
        (ConfigErrorKind::AppVersion, refused(Config::new("mytool", "latest"))),
        (ConfigErrorKind::EnvVar, refused(base().env(|e| EnvVars { main: String::new(), ..e }))),
        (
            ConfigErrorKind::EnvVar,
            refused(base().env(|e| EnvVars { documented: Some("NOT_READ".into()), ..e })),
        ),
        (
            ConfigErrorKind::DistinctId,
            refused(base().distinct_id(DistinctId::Uuid("jane@example.com".into()))),
        ),
        (
            ConfigErrorKind::DistinctId,
            refused(base().distinct_id(DistinctId::Raw { id: "runner-7".into(), reason: "!" })),
        ),
        (ConfigErrorKind::SampleRate, refused(base().delivery(|d| Delivery { sample_rate: 1.5, ..d }))),
        (ConfigErrorKind::Limits, refused(base().delivery(|d| Delivery { batch_size: 0, ..d }))),
        (
            ConfigErrorKind::Limits,
            refused(base().route(MemorySink::new(), Route::default().per_period(Duration::from_secs(1)))),
        ),
    ];
    for (kind, err) in &cases {
        assert_eq!(err.kind(), *kind, "{err}");
    }
    // The sinks refuse at construction, with the same error type.
    assert_eq!(HttpSink::new("ftp://example.com/x").unwrap_err().kind(), ConfigErrorKind::Url);
    assert_eq!(OtlpSink::new("not a url").unwrap_err().kind(), ConfigErrorKind::Url);
    assert_eq!(PostHogSink::new("").unwrap_err().kind(), ConfigErrorKind::ApiKey);
    let header = HttpSink::new("https://example.com/x").unwrap().header("X-Run", "a\nb");
    assert_eq!(header.unwrap_err().kind(), ConfigErrorKind::Header);
    let grpc = OtlpSink::from_env(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://localhost:4317".into()),
        "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".into()),
        _ => None,
    });
    assert_eq!(grpc.unwrap_err().kind(), ConfigErrorKind::Protocol);
}

#[test]
fn a_group_changed_twice_keeps_what_the_first_change_set() {
    let config = Config::new("mytool", "1.0.0")
        .delivery(telemetry_tests::on_flush)
        .delivery(|d| Delivery { spool: true, ..d })
        .env(|mut e| {
            e.legacy.push(("MYTOOL_ANONYMIZED_TELEMETRY".into(), Polarity::Enables));
            e
        })
        .env(|e| EnvVars { detect_ci: false, ..e })
        .dirs(|_| Dirs::from("/tmp/mytool"))
        .dirs(|d| Dirs { config: Some("/etc/mytool".into()), ..d });
    let shown = format!("{config:?}");
    for kept in [
        "flush_interval: 120s",
        "spool: true",
        "MYTOOL_ANONYMIZED_TELEMETRY",
        "detect_ci: false",
        "main: \"MYTOOL_TELEMETRY\"",
        "cache: Some(\"/tmp/mytool\")",
        "config: Some(\"/etc/mytool\")",
    ] {
        assert!(shown.contains(kept), "{kept} not in {shown}");
    }
    // What the groups hold reaches the client: the sinks' options too.
    let sink = PostHogSink::new("phc_projectkey123")
        .unwrap()
        .http(|h| HttpOptions { max_retries: 0, ..h })
        .http(|h| HttpOptions { request_timeout: Duration::from_secs(3), ..h });
    assert!(Telemetry::new(config.environment(|_| None).sink(sink)).is_ok());
}
