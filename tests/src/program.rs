//! A program of the examples run as a child process, in a home of its own,
//! sending to a [`TestServer`]: what the wire tests of the ports share.

use std::process::Output;

use serde_json::Value as Json;

use crate::{Home, TestServer};

/// A program, its home and the server its telemetry goes to.
pub struct Program {
    /// Its own home directory (cache, config and data inside).
    pub home: Home,
    /// The server it sends to.
    pub server: TestServer,
    /// Its executable (`env!("CARGO_BIN_EXE_...")`).
    exe: &'static str,
    /// Its own telemetry variables, taken out of the environment it
    /// inherits (see [`Home::command`]).
    ambient: &'static [&'static str],
    /// Variables every run gets: where to send, and with which key.
    env: Vec<(String, String)>,
}

impl Program {
    /// `exe` in a fresh home, with a fresh server and none of `ambient`.
    pub fn new(exe: &'static str, ambient: &'static [&'static str]) -> Program {
        Program { home: Home::new(), server: TestServer::start(), exe, ambient, env: Vec::new() }
    }

    /// Sets `name` to `value` on every run.
    pub fn env(mut self, name: &str, value: &str) -> Program {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets `name` to the server's URL on every run.
    pub fn env_server_url(self, name: &str) -> Program {
        let url = self.server.url();
        self.env(name, &url)
    }

    /// Runs it with `args` and `env` (after the variables of every run), and
    /// checks that it succeeded.
    pub fn output(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.home.command(self.exe, self.ambient);
        command.args(args).envs(self.env.iter().map(|(k, v)| (k, v))).envs(env.iter().copied());
        let output = command.output().unwrap_or_else(|e| panic!("run {}: {e}", self.exe));
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        output
    }

    /// [`Program::output`]'s standard output.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        String::from_utf8_lossy(&self.output(args, env).stdout).into_owned()
    }

    /// The events named `name` that the server accepted, oldest first.
    pub fn events(&self, name: &str) -> Vec<Json> {
        self.server.accepted_events().into_iter().filter(|e| e["event"] == name).collect()
    }
}

/// The names of an event's own properties, sorted: without the library's
/// standard `$` ones.
pub fn own_properties(event: &Json) -> Vec<String> {
    let mut keys: Vec<String> = event["properties"]
        .as_object()
        .expect("an event's properties")
        .keys()
        .filter(|k| !k.starts_with('$'))
        .cloned()
        .collect();
    keys.sort();
    keys
}
