//! The operating system's random generator, as the domain's
//! `SecretGenerator` (API keys are minted from it).

use domain::BoxError;
use domain::api_keys::SecretGenerator;
use rand::RngCore as _;
use rand::rngs::OsRng;

/// Reads `getrandom(2)` (or the platform's equivalent) directly: no
/// user-space state that a fork or a snapshot could duplicate.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsSecretGenerator;

impl SecretGenerator for OsSecretGenerator {
    fn fill(&self, buf: &mut [u8]) -> Result<(), BoxError> {
        OsRng
            .try_fill_bytes(buf)
            .map_err(|e| Box::new(e) as BoxError)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fills_the_whole_buffer_differently_each_time() {
        let (mut a, mut b) = ([0_u8; 32], [0_u8; 32]);
        OsSecretGenerator.fill(&mut a).unwrap();
        OsSecretGenerator.fill(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0_u8; 32]);
    }
}
