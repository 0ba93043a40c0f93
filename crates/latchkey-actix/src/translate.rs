//! What the actix adapter reads from the system: the clock and the OS RNG.

use std::time::{SystemTime, UNIX_EPOCH};

use latchkey_types::UnixTime;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The current time, read from the system clock (once per request).
pub fn now() -> UnixTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    UnixTime::from_secs(secs)
}

/// A request's RNG: ChaCha20 seeded from the operating system's generator,
/// or `None` when it fails (answered with a generic `500`, never a panic).
pub fn request_rng() -> Option<ChaCha20Rng> {
    ChaCha20Rng::try_from_rng(&mut getrandom::SysRng).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_rng_draws_from_the_os() {
        use rand_core::Rng;
        let (Some(mut a), Some(mut b)) = (request_rng(), request_rng()) else {
            panic!("the OS RNG works in tests");
        };
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
