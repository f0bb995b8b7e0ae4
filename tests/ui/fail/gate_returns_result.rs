// A `Result` is not a value to return without running the body either.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(full)]
fn upload() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {
    let _ = upload();
}
