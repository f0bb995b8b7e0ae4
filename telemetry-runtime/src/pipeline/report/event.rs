//! A period's report as the event a sink gets, built from the counts its
//! file holds for a route that reports by period.
//!
//! One event, `telemetry_report`, stamped with the period's start, whose
//! properties are `$period_start`, `$period_end` and the counts
//! ([`Counted::wire_name`](crate::model::period::Counted::wire_name)), with
//! the standard properties of the last run that counted (its version) but
//! no session id. Its uuid and, unless the
//! route asks for the install id, its `distinct_id` are derived from the
//! period, the route and the installation's secret key (the one of keyed
//! hashes): the same report is the same event however often it is built,
//! so `telemetry report` shows exactly the bytes that will be sent, and a
//! report sent twice (a crash between delivery and the record of it) is
//! de-duplicated by the receiver. The ids of two periods cannot be linked
//! without that key.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use ring::hmac;
use uuid::Uuid;

use super::folder::Stored;
use crate::local::identity::Identity;
use crate::model::encode::PostHogJson;
use crate::model::event::{Record, Records};
use crate::model::period::{PeriodCounts, REPORT_EVENT};
use crate::model::time::rfc3339;
use crate::model::view::{EventContext, Prepared, Queued};
use crate::pipeline::route::Route;
use crate::{Level, Properties, Value};

/// A route that reports by period.
pub(super) struct ReportRoute {
    /// The sink's position among the client's sinks.
    pub(super) index: usize,
    /// The sink's name, for logs and `telemetry report`.
    pub(super) sink: String,
    /// The sink's identity, which names the route's folder.
    pub(super) id: String,
    pub(super) route: Route,
    pub(super) period: u64,
}

/// The report of `stored` on `route`, as the event a sink gets, and that
/// event's JSON as PostHog's and the local sinks send it.
pub(super) fn build(stored: &Stored, route: &ReportRoute, identity: &Identity) -> (Queued, String) {
    let counts = &stored.counts;
    let secret = identity.hash_key();
    let derive = |what: &str| derived_uuid(secret, what, &stored.stamp.app_name, &route.id, counts);
    let (install_id, generation) = identity.distinct_id_and_generation();
    let distinct_id =
        if route.route.reports_install_id() { install_id } else { derive("distinct_id").to_string() };
    let stamp = &stored.stamp;
    let context = EventContext {
        distinct_id,
        generation,
        session_id: String::new(),
        app_name: stamp.app_name.clone(),
        app_version: stamp.app_version.clone(),
        os: Cow::Owned(stamp.os.clone()),
        arch: Cow::Owned(stamp.arch.clone()),
        os_version: stamp.os_version.clone(),
        lib_version: Cow::Owned(stamp.lib_version.clone()),
        catalog_digest: stamp.catalog_digest.clone(),
        // A report is coarse by design: no location is looked up from the
        // address it comes from, whatever the program's events allow.
        geoip_disable: true,
        hash_key_source: None,
        hash_key: OnceLock::new(),
        report: Some(Arc::new(counts.clone())),
    };
    let mut properties = Properties::with_capacity(counts.counts.len() + 2);
    properties.push("$period_start", Level::Usage, &Value::Text(rfc3339(counts.start_time()).into()));
    properties.push("$period_end", Level::Usage, &Value::Text(rfc3339(counts.end_time()).into()));
    for (counted, count) in &counts.counts {
        properties.push(&counted.wire_name(), Level::Usage, &Value::UInt(*count));
    }
    let record = Record::at(Cow::Borrowed(REPORT_EVENT), Some(counts.start_time()));
    let mut records = Records::default();
    records.push(record, &properties);
    let queued = Queued {
        prepared: Arc::new(Prepared { records, context: Arc::new(context) }),
        index: 0,
        uuid: derive("uuid"),
        shown: Level::Usage,
        needs: Level::Usage,
    };
    let mut wire = Vec::new();
    if let Some(view) = queued.view() {
        PostHogJson::default().event(&mut wire, &view);
    }
    (queued, String::from_utf8_lossy(&wire).into_owned())
}

/// A version 4 uuid made of an HMAC of the period, the route and `what`,
/// keyed with the installation's secret.
fn derived_uuid(secret: (u64, u64), what: &str, app: &str, route: &str, counts: &PeriodCounts) -> Uuid {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&secret.0.to_le_bytes());
    key[8..].copy_from_slice(&secret.1.to_le_bytes());
    let message = format!("telemetry report {what}\n{app}\n{route}\n{}\n{}", counts.start, counts.end);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), message.as_bytes());
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&tag.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
