// The sensitive vocabulary covers compound segments and every category:
// contact details, file system, network locations, credentials,
// conversation content, command lines, personal and device identifiers.
// An honest compound (`author`, `curl`, `superuser`) hides nothing beside
// it in the same segment.
use telemetry_runtime::TelemetryEvent;

/// Everything a leaky tool ever sent.
#[derive(TelemetryEvent)]
struct Leaky {
    #[telemetry(public)]
    emailaddress: String,
    #[telemetry(public)]
    serverurl: String,
    #[telemetry(public)]
    workspace_folder: String,
    #[telemetry(public)]
    bearer: String,
    #[telemetry(public)]
    chat_transcript: String,
    #[telemetry(public)]
    command_line: String,
    #[telemetry(public)]
    raw_argv: String,
    #[telemetry(public)]
    passport_number: String,
    #[telemetry(public)]
    imei: String,
    #[telemetry(public)]
    last_name: String,
    #[telemetry(public)]
    authoremail: String,
    #[telemetry(public)]
    curlpassword: String,
    #[telemetry(public)]
    superuserpassword: String,
}

fn main() {}
