//! `mcp-use`: a pretend `MCPAgent` with mcp-use's telemetry, ported in
//! [`telemetry_examples::mcp_use`] (whose docs list every difference).
//!
//! ```text
//! mcp-use [run|stream] [QUERY] [--model PROVIDER:MODEL] [--server stdio:COMMAND|http:URL|ws:URL]... [--memory]
//! mcp-use telemetry [status|on|off|full|reset|catalog|preview]
//! ```
//!
//! `MCP_USE_ANONYMIZED_TELEMETRY=false` turns telemetry off, `=full` sends
//! the query and the response too; `MCP_USE_DEBUG=2` prints each event.

use std::time::Duration;

use telemetry_examples::mcp_use::{self, AgentRun, ExecutionMethod, Server, ServerType};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let guard = match mcp_use::config(|name| std::env::var(name).ok()).map(telemetry_runtime::init) {
        Ok(Ok(guard)) => guard,
        Ok(Err(err)) => fail(&err),
        Err(err) => fail(&err),
    };
    if args.first().map(String::as_str) == Some("telemetry") {
        if let Err(err) = telemetry_runtime::cli::run_command(&guard, &args[1..], &mut std::io::stdout()) {
            fail(&err);
        }
        return;
    }
    let run = agent_run(&args);
    let consent = guard.consent();
    println!("mcp-use: telemetry {} (decided by {})", consent.level, consent.source);
    match mcp_use::run(&run) {
        Ok(answer) => println!("{answer}"),
        Err(err) => println!("mcp-use: the run failed: {err:?}"),
    }
    if !guard.flush(Duration::from_secs(5)) {
        println!("mcp-use: some telemetry was not delivered (see `mcp-use telemetry status`)");
    }
    println!("mcp-use: {} telemetry events captured", guard.stats().captured);
}

/// Shows `err` with the errors behind it, and exits.
fn fail(err: &dyn std::error::Error) -> ! {
    eprintln!("mcp-use: {}", telemetry_examples::error_chain(err));
    std::process::exit(2);
}

fn agent_run(args: &[String]) -> AgentRun {
    let mut run = AgentRun {
        query: "Help me analyze sales data from the CSV file".to_owned(),
        method: ExecutionMethod::Run,
        provider: "openai".to_owned(),
        model: "gpt-4".to_owned(),
        servers: Vec::new(),
        max_steps: 5,
        memory: false,
    };
    let mut query = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "run" => run.method = ExecutionMethod::Run,
            "stream" => run.method = ExecutionMethod::Stream,
            "--memory" => run.memory = true,
            "--model" => {
                let model = iter.next().map(String::as_str).unwrap_or_default();
                let (provider, name) = model.split_once(':').unwrap_or(("openai", model));
                (run.provider, run.model) = (provider.to_owned(), name.to_owned());
            }
            "--server" => {
                let server = iter.next().map(String::as_str).unwrap_or_default();
                let (kind, target) = server.split_once(':').unwrap_or(("stdio", server));
                let kind = match kind {
                    "http" => ServerType::Http,
                    "ws" => ServerType::Websocket,
                    _ => ServerType::Stdio,
                };
                run.servers.push(Server { kind, target: target.to_owned() });
            }
            other => query.push(other.to_owned()),
        }
    }
    if !query.is_empty() {
        run.query = query.join(" ");
    }
    if run.servers.is_empty() {
        run.servers = vec![
            Server { kind: ServerType::Stdio, target: "python -m server".to_owned() },
            Server { kind: ServerType::Http, target: "localhost:8080".to_owned() },
        ];
    }
    run
}
