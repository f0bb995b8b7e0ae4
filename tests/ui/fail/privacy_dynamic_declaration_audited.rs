// A dynamic event's declaration is audited like a derived event: free
// text needs a classification, a sensitive name sent as public needs a
// reason, names must be snake_case, and the doc comment is required.
telemetry_runtime::event! {
    /// A search ran.
    pub static SEARCH = "search" {
        query: String,
        #[telemetry(public)]
        user_email: String,
        session_id: u64,
        raw: Vec<u8>,
    }
}

telemetry_runtime::event! {
    pub static UNDOCUMENTED = "Bad-Name" {
        count: u32,
    }
}

fn main() {}
