//! Bearer-token authentication: the caller's role, and slowing down failed attempts.
//!
//! The server takes the token from `Authorization: Bearer <token>` and asks a [`Credentials`]
//! (in the kernel: dpu-config's token table) for the role. Failed attempts are counted per
//! source address and in total; each new wrong token from an address delays the next 401 it
//! gets by a doubling backoff ([`Throttle`]), without blocking the loop: the answer is held
//! until then. A guesser's progress is the number of distinct tokens it tries, so a token the
//! source already got a 401 for (one of its last [`REMEMBERED_GUESSES`]) is counted but earns
//! no longer delay: a client retrying a revoked token, or a conformance tool probing with one
//! fixed wrong token, is not slowed further, while every new guess still doubles the wait.

use core::net::IpAddr;

/// What a token may do: dpu-config's roles (administrator, operator, read-only).
pub use dpu_config::Role;

/// Who holds which token: verifies a presented token (constant time, in the implementation).
pub trait Credentials {
    /// The role of `presented`, or `None` if no stored token matches.
    fn verify(&self, presented: &[u8]) -> Option<Role>;
}

/// The running config's token table (SHA-256 digests, constant-time over every entry).
impl Credentials for dpu_config::TokenTable {
    fn verify(&self, presented: &[u8]) -> Option<Role> {
        dpu_config::TokenTable::verify(self, presented)
    }
}

/// No tokens at all: every token is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCredentials;

impl Credentials for NoCredentials {
    fn verify(&self, _presented: &[u8]) -> Option<Role> {
        None
    }
}

/// The token of an `Authorization` header value: `Bearer <token>` (scheme case-insensitive,
/// RFC 6750 §2.1), else `None`.
#[must_use]
pub fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.strip_prefix(b" ")?.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Source addresses whose failures are tracked at once (the oldest is forgotten first).
pub const TRACKED_SOURCES: usize = 16;
/// The first failure's delay; each further one doubles it.
pub const BACKOFF_FIRST_MS: u64 = 250;
/// The longest delay.
pub const BACKOFF_MAX_MS: u64 = 8_000;
/// A source with no failure for this long starts again from no delay.
pub const BACKOFF_FORGET_MS: u64 = 60_000;

/// Wrong tokens remembered per source (as digests) so a repeat is told from a new guess.
pub const REMEMBERED_GUESSES: usize = 4;

/// Bytes of a wrong token's SHA-256 kept: enough that a new guess cannot pass for a remembered
/// one (finding a 128-bit collision is out of reach), small enough for 16 sources.
const GUESS_DIGEST_BYTES: usize = 16;

/// A tracked source; `failures == 0` is a free entry (so a new throttle is zero bytes).
#[derive(Debug, Clone, Copy)]
struct Source {
    address: IpAddr,
    /// Distinct wrong tokens recently (repeats of a remembered one are not counted here).
    failures: u32,
    last_failure_ms: u64,
    /// Digests of the last distinct wrong tokens, `guesses[next % N]` the next to replace.
    guesses: [[u8; GUESS_DIGEST_BYTES]; REMEMBERED_GUESSES],
    remembered: u8,
    next: u8,
}

impl Source {
    const FREE: Self = Self {
        address: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
        failures: 0,
        last_failure_ms: 0,
        guesses: [[0; GUESS_DIGEST_BYTES]; REMEMBERED_GUESSES],
        remembered: 0,
        next: 0,
    };

    fn knows(&self, guess: &[u8; GUESS_DIGEST_BYTES]) -> bool {
        self.guesses
            .iter()
            .take(usize::from(self.remembered))
            .any(|known| known == guess)
    }

    fn remember(&mut self, guess: [u8; GUESS_DIGEST_BYTES]) {
        let slot = usize::from(self.next) % REMEMBERED_GUESSES;
        self.guesses[slot] = guess;
        self.next = ((slot + 1) % REMEMBERED_GUESSES) as u8;
        self.remembered = self
            .remembered
            .saturating_add(1)
            .min(REMEMBERED_GUESSES as u8);
    }

    fn used(&self) -> Option<&Self> {
        (self.failures > 0).then_some(self)
    }
}

/// Failed-attempt counts per source address and in total, and the delay each failure earns.
#[derive(Debug, Clone)]
pub struct Throttle {
    sources: [Source; TRACKED_SOURCES],
    total_failures: u64,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new()
    }
}

impl Throttle {
    /// Nothing failed yet.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            sources: [Source::FREE; TRACKED_SOURCES],
            total_failures: 0,
        }
    }

    /// Failed attempts since boot, from every source.
    #[must_use]
    pub const fn total_failures(&self) -> u64 {
        self.total_failures
    }

    /// Recent failures from `address` (0 if untracked or forgotten).
    #[must_use]
    pub fn failures_from(&self, address: IpAddr, now_ms: u64) -> u32 {
        self.sources
            .iter()
            .filter_map(Source::used)
            .find(|source| source.address == address)
            .filter(|source| now_ms.saturating_sub(source.last_failure_ms) < BACKOFF_FORGET_MS)
            .map_or(0, |source| source.failures)
    }

    /// Counts a failed attempt from `address` at `now_ms` that presented `credential` (the
    /// `Authorization` value); returns how long to hold its 401. A credential the source was
    /// refused recently gets the source's current delay; a new one doubles it.
    pub fn fail(&mut self, address: Option<IpAddr>, credential: &[u8], now_ms: u64) -> u64 {
        self.total_failures = self.total_failures.saturating_add(1);
        let Some(address) = address else {
            return BACKOFF_MAX_MS;
        };
        let mut guess = [0; GUESS_DIGEST_BYTES];
        guess.copy_from_slice(&dpu_config::tokens::digest(credential)[..GUESS_DIGEST_BYTES]);
        let recent = self.failures_from(address, now_ms);
        let index = self
            .sources
            .iter()
            .position(|source| {
                source
                    .used()
                    .is_some_and(|source| source.address == address)
            })
            .or_else(|| {
                self.sources
                    .iter()
                    .position(|source| source.used().is_none())
            })
            .unwrap_or_else(|| self.oldest());
        let source = &mut self.sources[index];
        if recent > 0 && source.address == address && source.knows(&guess) {
            source.last_failure_ms = now_ms;
            return delay_for(recent);
        }
        if recent == 0 || source.address != address {
            *source = Source {
                address,
                ..Source::FREE
            };
        }
        source.failures = recent.saturating_add(1);
        source.last_failure_ms = now_ms;
        source.remember(guess);
        delay_for(source.failures)
    }

    fn oldest(&self) -> usize {
        let mut oldest = 0;
        let mut oldest_ms = u64::MAX;
        for (index, source) in self.sources.iter().enumerate() {
            if let Some(source) = source.used()
                && source.last_failure_ms < oldest_ms
            {
                oldest_ms = source.last_failure_ms;
                oldest = index;
            }
        }
        oldest
    }
}

/// The delay after the `failures`-th recent failure: none for the first, then 250 ms doubling
/// up to [`BACKOFF_MAX_MS`] (a person mistyping once is not slowed; a guesser is).
#[must_use]
pub const fn delay_for(failures: u32) -> u64 {
    if failures <= 1 {
        return 0;
    }
    let shift = failures - 2;
    if shift >= 16 {
        return BACKOFF_MAX_MS;
    }
    let delay = BACKOFF_FIRST_MS << shift;
    if delay > BACKOFF_MAX_MS {
        BACKOFF_MAX_MS
    } else {
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn address(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 2, last))
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert_eq!(bearer_token(b"Bearer "), None);
        assert_eq!(bearer_token(b"Bearerabc"), None);
    }

    #[test]
    fn the_token_table_is_a_credentials() {
        let mut table = dpu_config::TokenTable::new();
        let added = table.add("ci", Role::Operator, b"0123456789abcdef-secret");
        assert!(added.is_ok());
        let credentials: &dyn Credentials = &table;
        assert_eq!(
            credentials.verify(b"0123456789abcdef-secret"),
            Some(Role::Operator)
        );
        assert_eq!(credentials.verify(b"0123456789abcdef-secreT"), None);
        assert_eq!(NoCredentials.verify(b"anything"), None);
    }

    #[test]
    fn backoff_doubles_per_source_and_is_forgotten() {
        let mut throttle = Throttle::new();
        let delays: std::vec::Vec<u64> = (0..8u8)
            .map(|guess| throttle.fail(Some(address(1)), &[guess], 0))
            .collect();
        assert_eq!(delays, [0, 250, 500, 1000, 2000, 4000, 8000, 8000]);
        assert_eq!(
            throttle.fail(Some(address(2)), b"x", 0),
            0,
            "another source starts afresh"
        );
        assert_eq!(throttle.total_failures(), 9);
        assert_eq!(throttle.failures_from(address(1), 10), 8);
        assert_eq!(throttle.failures_from(address(1), BACKOFF_FORGET_MS), 0);
        assert_eq!(throttle.fail(Some(address(1)), b"x", BACKOFF_FORGET_MS), 0);
        assert_eq!(
            throttle.fail(None, b"x", 0),
            BACKOFF_MAX_MS,
            "no address: the longest delay"
        );
    }

    #[test]
    fn many_sources_replace_the_oldest() {
        let mut throttle = Throttle::new();
        for index in 0..=TRACKED_SOURCES {
            let index = u8::try_from(index).unwrap_or(u8::MAX);
            throttle.fail(Some(address(index)), b"a", u64::from(index));
            throttle.fail(Some(address(index)), b"b", u64::from(index));
        }
        assert_eq!(
            throttle.failures_from(address(0), 100),
            0,
            "forgotten first"
        );
        assert_eq!(throttle.failures_from(address(16), 100), 2);
        assert_eq!(throttle.failures_from(address(1), 100), 2);
    }

    #[test]
    fn a_repeated_wrong_token_is_counted_but_not_slowed_further() {
        let mut throttle = Throttle::new();
        let source = Some(address(7));
        // One fixed wrong token, over and over (a stale client, a conformance tool).
        let repeats: std::vec::Vec<u64> = (0..20)
            .map(|at| throttle.fail(source, b"Bearer stale", at))
            .collect();
        assert!(repeats.iter().all(|&delay| delay == 0), "{repeats:?}");
        assert_eq!(throttle.total_failures(), 20, "every attempt is counted");
        assert_eq!(throttle.failures_from(address(7), 20), 1);
        // New guesses still double the wait, and the repeat then waits as long as the last.
        assert_eq!(throttle.fail(source, b"Bearer guess-1", 30), 250);
        assert_eq!(throttle.fail(source, b"Bearer guess-2", 31), 500);
        assert_eq!(throttle.fail(source, b"Bearer stale", 32), 500);
        assert_eq!(throttle.fail(source, b"Bearer guess-3", 33), 1000);
        // Alternating among remembered tokens gains nothing and loses nothing.
        for at in 40..60 {
            let token: &[u8] = if at % 2 == 0 {
                b"Bearer guess-1"
            } else {
                b"Bearer guess-3"
            };
            assert_eq!(throttle.fail(source, token, at), 1000);
        }
        // A fifth distinct token pushes the oldest out: it counts as new again.
        assert_eq!(throttle.fail(source, b"Bearer guess-4", 70), 2000);
        assert_eq!(throttle.fail(source, b"Bearer stale", 71), 4000);
        // Forgotten after a quiet minute: a repeat then starts afresh.
        assert_eq!(
            throttle.fail(source, b"Bearer stale", 71 + BACKOFF_FORGET_MS),
            0
        );
    }
}
