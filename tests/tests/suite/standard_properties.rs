//! The standard properties every event carries, on the wire: the operating
//! system's version where it is cheap and anonymous, nothing that names the
//! machine, and an OTLP resource that says which program and library sent
//! the data and nothing about the host.

use std::collections::BTreeSet;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource;
use telemetry_runtime::sink::OtlpSink;
use telemetry_runtime::{Telemetry, TelemetryEvent};
use telemetry_tests::{posthog_sink, Sandbox, TestServer, SOON};

telemetry_runtime::counter! {
    /// Builds, by outcome.
    static BUILDS = "standard_builds", labels: [status: Status = ["ok"]];
}

/// A build finished.
#[derive(TelemetryEvent)]
struct StandardBuild {
    /// How many crates.
    crates: u32,
}

/// What the system says, read here independently of the library: Linux's
/// os-release `VERSION_ID` or macOS's `ProductVersion`, cut to major.minor,
/// when it is numeric.
fn expected_os_version() -> Option<String> {
    let value = if cfg!(target_os = "linux") {
        let text = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .ok()?;
        let line = text.lines().find(|l| l.starts_with("VERSION_ID="))?;
        line["VERSION_ID=".len()..].trim_matches(['"', '\'']).to_owned()
    } else if cfg!(target_os = "macos") {
        let text = std::fs::read_to_string("/System/Library/CoreServices/SystemVersion.plist").ok()?;
        let (_, rest) = text.split_once("<key>ProductVersion</key>")?;
        let (_, rest) = rest.split_once("<string>")?;
        rest.split_once("</string>")?.0.trim().to_owned()
    } else {
        return None;
    };
    let parts: Vec<&str> = value.split('.').take(2).collect();
    let numeric =
        parts.iter().all(|p| !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_digit()));
    numeric.then(|| parts.join("."))
}

/// What would name this machine or its kernel build, where the system says.
fn machine_specifics() -> Vec<String> {
    ["/proc/sys/kernel/hostname", "/proc/sys/kernel/osrelease", "/proc/sys/kernel/version", "/etc/machine-id"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_owned())
        // Too short to tell apart from other text in a body.
        .filter(|text| text.len() >= 6)
        .collect()
}

fn client(
    sandbox: &Sandbox,
    config: impl FnOnce(telemetry_runtime::Config) -> telemetry_runtime::Config,
) -> Telemetry {
    Telemetry::new(
        config(sandbox.config())
            .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d }),
    )
    .unwrap()
}

#[test]
fn os_version_is_the_distributions_major_minor_and_nothing_names_the_machine() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = client(&sandbox, |c| c.sink(posthog_sink(&server)));
    telemetry.capture(&StandardBuild { crates: 12 });
    telemetry.capture(&StandardBuild { crates: 13 });
    assert!(telemetry.flush(SOON));

    let events = server.accepted_events();
    assert_eq!(events.len(), 2);
    let expected = expected_os_version();
    for event in &events {
        let properties = &event["properties"];
        assert_eq!(properties["$os"], std::env::consts::OS);
        assert_eq!(properties["$os_version"].as_str().map(str::to_owned), expected, "{properties}");
    }
    let specifics = machine_specifics();
    // Linux always has /proc/sys/kernel/osrelease and version.
    #[cfg(target_os = "linux")]
    assert!(!specifics.is_empty(), "the kernel's release and version were not read");
    if specifics.is_empty() {
        telemetry_tests::skip(
            "standard_properties::os_version_is_the_distributions_major_minor_and_nothing_names_the_machine",
            "no host name, kernel version or machine id to look for on this system",
        );
    }
    for specific in specifics {
        assert!(!server.received(specific.as_bytes()), "{specific:?} reached the server");
    }
}

/// The resource's attribute keys.
fn keys(resource: &Option<Resource>) -> BTreeSet<String> {
    resource.as_ref().expect("a resource").attributes.iter().map(|kv| kv.key.clone()).collect()
}

#[test]
fn the_otlp_resource_names_the_program_and_library_and_nothing_about_the_host() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let telemetry = client(&sandbox, |c| c.sink(OtlpSink::new(&server.url()).unwrap()));
    telemetry.capture(&StandardBuild { crates: 3 });
    telemetry.add(&BUILDS, Status::Ok, 1);
    assert!(telemetry.flush(SOON));

    let expected: BTreeSet<String> = [
        "service.name",
        "service.version",
        "telemetry.sdk.name",
        "telemetry.sdk.version",
        "telemetry.sdk.language",
    ]
    .map(String::from)
    .into();
    let requests = server.requests();
    let mut seen = BTreeSet::new();
    for request in &requests {
        let resources: Vec<Option<Resource>> = match request.path.as_str() {
            "/v1/logs" => {
                let body: ExportLogsServiceRequest = telemetry_tests::otlp::decode(request);
                body.resource_logs.into_iter().map(|r| r.resource).collect()
            }
            "/v1/metrics" => {
                let body: ExportMetricsServiceRequest = telemetry_tests::otlp::decode(request);
                body.resource_metrics.into_iter().map(|r| r.resource).collect()
            }
            other => panic!("unexpected path {other}"),
        };
        for resource in &resources {
            assert_eq!(keys(resource), expected, "{}", request.path);
        }
        seen.insert(request.path.clone());
    }
    assert_eq!(seen, BTreeSet::from(["/v1/logs".to_owned(), "/v1/metrics".to_owned()]));
    for specific in machine_specifics() {
        assert!(!server.received(specific.as_bytes()), "{specific:?} reached the collector");
    }
}
