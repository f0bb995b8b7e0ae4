//! `thv`: a pretend ToolHive that proxies MCP tool calls, with ToolHive's
//! usage analytics ported in [`telemetry_examples::toolhive`] (whose docs
//! list every difference).
//!
//! ```text
//! thv run SERVER [--calls N] [--errors N] [--usage-analytics=false] [--otel-endpoint URL] [--debug]
//! thv config otel get usage-analytics-enabled
//! thv config otel set usage-analytics-enabled true|false
//! thv telemetry [status|catalog|preview|...]
//! ```

use std::path::PathBuf;
use std::time::Duration;

use telemetry_examples::toolhive::{self, Options, Proxy};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let config_file = toolhive::config_file(&home);
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["config", "otel", "get", "usage-analytics-enabled"] => {
            println!("{}", toolhive::read_settings(&config_file).usage_analytics_enabled);
        }
        ["config", "otel", "set", "usage-analytics-enabled", value @ ("true" | "false")] => {
            let mut settings = toolhive::read_settings(&config_file);
            settings.usage_analytics_enabled = *value == "true";
            if let Err(err) = toolhive::write_settings(&config_file, &settings) {
                fail(&err);
            }
            println!("Set usage-analytics-enabled to {value} in {}", config_file.display());
        }
        ["telemetry", rest @ ..] => {
            let proxy = proxy("telemetry", &[], &config_file);
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            if let Err(err) =
                telemetry_runtime::cli::run_command(proxy.telemetry(), &rest, &mut std::io::stdout())
            {
                fail(&err);
            }
        }
        ["run", server, flags @ ..] => run(server, flags, &config_file),
        _ => {
            eprintln!("usage: thv run SERVER [--calls N] [--errors N] [--usage-analytics=false] [--otel-endpoint URL] [--debug]");
            std::process::exit(2);
        }
    }
}

fn run(server: &str, flags: &[&str], config_file: &std::path::Path) {
    let number = |name: &str| {
        flags.iter().position(|f| *f == name).and_then(|i| flags.get(i + 1)?.parse::<u32>().ok()).unwrap_or(0)
    };
    let (calls, errors) = (number("--calls"), number("--errors"));
    let proxy = proxy(server, flags, config_file);
    let consent = proxy.telemetry().consent();
    println!("thv: usage analytics {} (decided by {})", consent.level, consent.source);
    for call in 0..calls {
        let (tool, index) = if call % 2 == 0 { ("fetch_url", 0) } else { ("read_file", 1) };
        proxy.call_tool(tool, index, call >= errors);
    }
    println!("thv: proxied {calls} tool calls for {server} ({errors} failed)");
    if !proxy.shutdown(Duration::from_secs(5)) {
        println!("thv: some telemetry was not delivered in time");
    }
}

fn proxy(server: &str, flags: &[&str], config_file: &std::path::Path) -> Proxy {
    let otel_endpoint = flags
        .iter()
        .position(|f| *f == "--otel-endpoint")
        .and_then(|i| flags.get(i + 1))
        .map(|s| s.to_string());
    let options = Options {
        settings: toolhive::read_settings(config_file),
        instance_analytics: !flags.contains(&"--usage-analytics=false"),
        otel_endpoint,
        debug: flags.contains(&"--debug"),
    };
    Proxy::new(server, &options).unwrap_or_else(|err| fail(&err))
}

/// Shows `err` with the errors behind it, and exits.
fn fail(err: &dyn std::error::Error) -> ! {
    eprintln!("thv: {}", telemetry_examples::error_chain(err));
    std::process::exit(2);
}
