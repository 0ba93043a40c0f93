//! What the axum adapter reads from the system: the clock and the OS RNG.

use latchkey_types::UnixTime;
use rand_core::SeedableRng;

/// The system clock as `UnixTime`, read once per request (`latchkey-http`
/// takes it as an argument).
pub fn now() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    UnixTime::from_secs(secs)
}

/// A request's RNG: ChaCha20 seeded from the operating system, or `None`
/// when the OS generator fails (answered with a generic `500`).
pub fn request_rng() -> Option<rand_chacha::ChaCha20Rng> {
    rand_chacha::ChaCha20Rng::try_from_rng(&mut getrandom::SysRng).ok()
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
