//! Making a client: directories, environment, consent, the first-run
//! notice, sinks and their routes, and what an earlier run left (the spool,
//! reports by period).

use super::*;

impl Telemetry {
    pub(crate) fn with_level_cell(
        config: Config,
        global_gate: Option<&'static AtomicU8>,
    ) -> Result<Telemetry, ConfigError> {
        config.validate()?;
        let documented = config.documented_index()?;
        let app_dir = |over: &Option<PathBuf>, platform: Option<PathBuf>| {
            over.clone().or_else(|| platform.map(|d| d.join(&config.app_name)))
        };
        let cache_dir = app_dir(&config.dirs.cache, platform::cache_dir());
        let config_dir = app_dir(&config.dirs.config, platform::config_dir());
        let data_dir = app_dir(&config.dirs.data, platform::data_dir());
        let env_vars = config.env_var_list();
        let settings = config.delivery.settings();
        let catalog = config.catalog.unwrap_or_else(Catalog::collect).with_envelope(Envelope {
            identity: config.distinct_id.described(),
            geoip: !config.disable_geoip,
        });
        // The OpenTelemetry switch every SDK honours; only "true" turns it off.
        let otel_disabled =
            (config.env)("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let resolver_env = Arc::clone(&config.env);
        let resolver = Resolver {
            explicit: Mutex::new(config.explicit),
            env: config.env,
            env_vars,
            consent_path: config_dir.as_ref().map(|d| d.join(CONSENT_FILE)),
            detect_ci: config.env_vars.detect_ci,
            default: config.default_level,
            notice_pending: AtomicBool::new(false),
            notice_shown: AtomicBool::new(false),
            documented,
        };
        let env_var = resolver.env_vars[0].name.clone();
        // The main variable's name with `_DEBUG`, and the app's own
        // `<APP>_TELEMETRY_DEBUG` when the main variable was renamed
        // (`CUA_TELEMETRY_ENABLED` -> `CUA_TELEMETRY_DEBUG` too).
        let app_var = crate::config::env_var_for(&config.app_name);
        let debug_on =
            |name: &str| (resolver.env)(name).and_then(|v| Level::parse(&v)).is_some_and(|l| l > Level::Off);
        let debug = config.delivery.debug
            || debug_on(&format!("{env_var}_DEBUG"))
            || (app_var != env_var && debug_on(&format!("{app_var}_DEBUG")));
        // Named after the app, like the main variable's default name, so that
        // renaming the main variable (`CUA_TELEMETRY_ENABLED`) leaves it as
        // `CUA_TELEMETRY_SAMPLE_RATE`.
        let sample_var = format!("{app_var}_SAMPLE_RATE");
        let sample_rate =
            sample_rate_from_env(&resolver.env, &sample_var).unwrap_or(config.delivery.sample_rate);
        let mut consent = resolver.resolve();
        let local_only = config.delivery.local_only || consent.local_only;
        // The notice is about data leaving the machine for the vendor: debug
        // and local-only modes, and programs whose vendor sinks are all
        // local, send the vendor nothing.
        let configured = config.sinks.into_inner().unwrap_or_else(|e| e.into_inner());
        // What the catalog and the notice say about reports by period.
        let catalog = catalog.with_reports(report::notes(configured.iter().map(|(_, route, _)| route)));
        let sends_away = !debug
            && !local_only
            && configured.iter().any(|(s, route, _)| !s.is_local() && !route.is_user_owned());
        if config.notice.enabled && sends_away && consent.source == ConsentSource::Default {
            // Decided by the default: the documented variable is the switch.
            let (name, value) = consent::off_switch(&consent, &resolver.env_vars, resolver.documented)
                .unwrap_or((&env_var, "off"));
            let reports = catalog.reports().iter().map(|note| note.seconds).min();
            let commands = config.notice.commands.as_deref();
            let text = || notice::default_text(&config.app_name, name, value, commands, reports);
            // `mytool telemetry off` on a first run: a notice telling the
            // user to run what they are running does not fit, and is not
            // shown; it stays due for the next run that is not one of these.
            let running_commands =
                commands.is_some_and(|invocation| notice::runs_command(invocation, std::env::args_os()));
            consent = first_run_notice(
                running_commands,
                &config.notice,
                &resolver,
                consent.clone(),
                config_dir.as_deref(),
                &catalog,
                text,
            );
        }
        let local = |sink: Box<dyn Sink>| (sink, Route::default(), String::new());
        let routed: Vec<(Box<dyn Sink>, Route, String)> = if debug {
            vec![local(Box::new(StderrSink))]
        } else if local_only {
            match &data_dir {
                Some(dir) => vec![local(Box::new(JsonlSink::new(dir.join(LOCAL_EVENTS_FILE))))],
                None => {
                    log::warn!("No data directory for local-only telemetry: nothing is recorded.");
                    Vec::new()
                }
            }
        } else {
            configured
        };
        let sink_ids = spool::sink_identities(routed.iter().map(|(_, route, to)| (to.as_str(), route)));
        let (sinks, routes): (Vec<Box<dyn Sink>>, Vec<Route>) =
            routed.into_iter().map(|(sink, route, _)| (sink, route)).unzip();
        let level = compiled_level(consent.level) as u8;
        let user_level = if otel_disabled {
            Level::Off
        } else {
            compiled_level(routes.iter().map(|r| r.user_level(Level::Full)).max().unwrap_or(Level::Off))
        } as u8;
        let gate_level = level.max(user_level);
        let sink_routes: Vec<SinkRoute> = sinks
            .iter()
            .zip(sink_ids)
            .zip(routes)
            .map(|((sink, id), route)| {
                let name = sink.name().to_owned();
                let local = catch_unwind(AssertUnwindSafe(|| sink.is_local())).unwrap_or_else(|_| {
                    log::error!(
                        "Telemetry sink {name} panicked when asked where it keeps data; taken as remote."
                    );
                    false
                });
                SinkRoute { name, id, route, local }
            })
            .collect();
        let reports = Reports::new(
            data_dir.as_deref(),
            config.report_clock,
            sink_routes.iter().map(|sink| (sink.name.as_str(), sink.id.as_str(), &sink.route)),
        );
        if let Some(gate) = global_gate {
            gate.store(gate_level, Relaxed);
        }
        log_decision(&consent, &resolver);
        let inner = Inner {
            global_gate,
            own_gate: AtomicU8::new(gate_level),
            allowance: Arc::new(Allowance::new(Level::from_u8(level), Level::from_u8(user_level))),
            changing: Mutex::new(()),
            counter_consent: AtomicU8::new(level),
            consent: Mutex::new(consent),
            resolver,
            queue: Queue::new(settings.queue_capacity, settings.queue_bytes, settings.batch_size),
            counters: Counters::default(),
            identity: Arc::new(Identity::new(
                cache_dir.as_ref().map(|d| d.join(ID_FILE)),
                config.distinct_id.source(),
            )),
            version: VersionRecord::new(cache_dir.as_ref().map(|d| d.join(VERSION_FILE))),
            files_lock: Mutex::new(()),
            session_id: Uuid::new_v4().to_string(),
            app_name: config.app_name,
            app_version: config.app_version,
            settings,
            sink_routes,
            sinks: Mutex::new(Some(sinks)),
            otel_resource: crate::sink::otel_resource(&*resolver_env),
            worker_started: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            shutdown_lost: AtomicBool::new(false),
            pid: std::process::id(),
            dropped_at_flush: AtomicU64::new(0),
            aggregates: Aggregates::default(),
            reports,
            catalog_digest: catalog.digest(),
            disable_geoip: config.disable_geoip,
            catalog,
            os_version: OnceLock::new(),
            data_dir,
            cache_dir,
            debug,
            local_only,
            sample_rate,
            sample_state: config.delivery.sample_seed.map(AtomicU64::new),
            worker_main: crate::pipeline::worker::run,
            keep_undelivered: crate::pipeline::worker::keep_undelivered,
        };
        let inner = Arc::new(inner);
        let telemetry = Telemetry { _owner: Arc::new(Owner(Arc::clone(&inner))), inner };
        telemetry.settle_spool();
        telemetry.settle_reports();
        Ok(telemetry)
    }

    /// With routes that report by period: deletes what was not sent when
    /// consent is off, or starts the worker when a report waits to be sent.
    fn settle_reports(&self) {
        let inner = &self.inner;
        if inner.reports.is_empty() {
            return;
        }
        let consent = lock(&inner.consent).clone();
        if consent.level == Level::Off && consent.source != ConsentSource::NoticePending {
            inner.reports.forget_pending(inner.user_level() > Level::Off);
        }
        let (consent, user) = (inner.consent_level(), inner.user_level());
        if inner.reports.has_due(&|route| route.level_under(consent, user) >= Level::Usage) {
            inner.ensure_worker();
        }
    }

    /// With the spool on: deletes it when consent is off, or starts the
    /// worker to deliver what an earlier run left.
    fn settle_spool(&self) {
        let Some(spool) = self.inner.spool() else { return };
        if self.inner.consent_level() == Level::Off && self.inner.user_level() == Level::Off {
            if let Err(err) = spool.clear() {
                log::warn!("Cannot delete the telemetry spool ({err}).");
            }
        } else if !spool.is_empty() {
            self.inner.ensure_worker();
        }
    }
}

/// Telemetry is about to be on by default: unless the user was already told
/// about this catalog, tell them now (or wait for a terminal, or for a run
/// that is not one of the telemetry commands, `running_commands`) and send
/// nothing in this run.
fn first_run_notice(
    running_commands: bool,
    notice: &Notice,
    resolver: &Resolver,
    consent: Consent,
    config_dir: Option<&Path>,
    catalog: &Catalog,
    default_text: impl FnOnce() -> String,
) -> Consent {
    if consent.level == Level::Off {
        return consent;
    }
    let record = config_dir.map(|d| d.join(notice::NOTICE_FILE));
    if record.as_deref().is_some_and(|path| notice::acknowledged(path, catalog)) {
        return consent;
    }
    if !running_commands {
        let text = notice.text.clone().unwrap_or_else(default_text);
        if notice::show(&text, notice.requires_terminal) {
            resolver.notice_shown.store(true, Relaxed);
            if let Some(path) = &record {
                notice::record(path, catalog);
            }
        }
    }
    resolver.notice_pending.store(true, Relaxed);
    resolver.resolve()
}

/// The rate in `name`, when it is set to a number in `[0, 1]`; any other
/// value is logged and ignored.
fn sample_rate_from_env(env: &EnvLookup, name: &str) -> Option<f64> {
    let value = env(name).filter(|v| !v.trim().is_empty())?;
    match value.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Some(rate),
        _ => {
            let shown: String = value.chars().take(40).collect();
            log::warn!("Ignoring {name}={shown:?}: a sample rate is a number from 0 to 1.");
            None
        }
    }
}
