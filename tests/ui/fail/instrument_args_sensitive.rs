// The sensitive-name rule of the derive applies to the
// arguments an instrumented function records.
//
// Expected: an error at `user_id` in `args(user_id)`: "argument `user_id`
// looks sensitive (`user`) ...", as `user_id: u64` gets in an event.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(instrument, args(user_id))]
fn load_profile(user_id: u64) -> u64 {
    user_id
}

fn main() {
    load_profile(1);
}
