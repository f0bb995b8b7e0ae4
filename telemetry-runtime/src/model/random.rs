//! The per-thread random numbers of events: uuids, sampling and span ids.

use std::cell::Cell;

use uuid::Uuid;

/// The SplitMix64 step shared by the per-thread generator and the seeded
/// sampler: advances `state` by the golden gamma and mixes it.
pub(crate) const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function for a state already advanced by [`GAMMA`].
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let (a, b) = Uuid::new_v4().as_u64_pair();
    a ^ b.rotate_left(32)
}

/// SplitMix64 (<https://prng.di.unimi.it/splitmix64.c>) on a per-thread,
/// OS-seeded state: fast, well distributed, not for secrets.
pub(crate) fn random_u64() -> u64 {
    RNG.with(|state| {
        let s = state.get().wrapping_add(GAMMA);
        state.set(s);
        mix(s)
    })
}
