// The sensitive-name rule of the derive applies to the arguments an
// instrumented function records: an identifier is refused whatever its
// type, and a sensitive word needs a measure or a closed set.
//
// Expected: an error at `user_id` in `args(user_id)`, as `user_id: u64`
// gets in an event, and one at the type of `conversation`, a uuid.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(instrument, args(user_id))]
fn load_profile(user_id: u64) -> u64 {
    user_id
}

#[requires_telemetry(instrument, args(conversation))]
fn resume(conversation: uuid::Uuid) -> bool {
    !conversation.is_nil()
}

fn main() {
    load_profile(1);
    resume(uuid::Uuid::nil());
}
