//! API bearer tokens: roles, the hashed token table, constant-time verify, secrets.
//!
//! A token is a name, a role and the SHA-256 digest of its secret; the secret itself is shown
//! once when it is made and never stored. Secrets made on the console are 32 random bytes
//! (64 hex digits), so a plain SHA-256 is enough: there is nothing to brute-force with a slow
//! hash. [`TokenTable::verify`] hashes the presented secret once and compares it with every
//! entry, all of them, without an early exit, so its time does not tell which entry (or
//! whether any) matched.

use core::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Most tokens the table holds.
pub const TOKEN_CAPACITY: usize = 16;
/// Longest token name in bytes.
pub const NAME_CAPACITY: usize = 32;
/// Shortest secret accepted (command-line secrets; console secrets are 64 hex digits).
pub const MIN_SECRET_LEN: usize = 16;
/// Longest secret accepted.
pub const MAX_SECRET_LEN: usize = 128;
/// Length of a secret made by [`secret_from_entropy`]: 32 bytes as hex.
pub const GENERATED_SECRET_LEN: usize = 64;

/// What a token may do (the Redfish roles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Everything, including token and firmware management.
    Administrator,
    /// Reads and writes (config, ports, fdb, firmware upload, reboot).
    Operator,
    /// Reads only.
    ReadOnly,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 3] = [Role::Administrator, Role::Operator, Role::ReadOnly];

    /// The word used on the console, the command line and in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Operator => "operator",
            Role::ReadOnly => "read-only",
        }
    }

    /// The role named `word` (`administrator`, `operator`, `read-only`; also `admin`,
    /// `readonly`).
    pub fn parse(word: &str) -> Option<Role> {
        match word {
            "administrator" | "admin" => Some(Role::Administrator),
            "operator" => Some(Role::Operator),
            "read-only" | "readonly" => Some(Role::ReadOnly),
            _ => None,
        }
    }

    /// Whether the role may change things (operator or administrator).
    pub const fn can_write(self) -> bool {
        matches!(self, Role::Administrator | Role::Operator)
    }

    /// The byte stored in flash.
    pub(crate) const fn code(self) -> u8 {
        match self {
            Role::Administrator => 1,
            Role::Operator => 2,
            Role::ReadOnly => 3,
        }
    }

    /// The role stored as `code`.
    pub(crate) const fn from_code(code: u8) -> Option<Role> {
        match code {
            1 => Some(Role::Administrator),
            2 => Some(Role::Operator),
            3 => Some(Role::ReadOnly),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// Where a token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Made on the console (`token add`): part of the config, saved to flash.
    Console,
    /// From the kernel command line (`api.token=`): for this boot only, never saved.
    Cmdline,
}

impl Origin {
    /// The word shown by `token list`.
    pub const fn name(self) -> &'static str {
        match self {
            Origin::Console => "console",
            Origin::Cmdline => "command line",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// A token's name: 1..=32 bytes of `A-Z a-z 0-9 - _ .`.
pub type TokenName = heapless::String<NAME_CAPACITY>;

/// One token: what `token list` shows, plus the digest (which it never shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    name: TokenName,
    role: Role,
    origin: Origin,
    digest: [u8; 32],
}

impl Token {
    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where it came from.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The SHA-256 of the secret (for the flash codec).
    pub(crate) fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
}

/// Why a token could not be added or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// The name is empty, too long, or has a character outside `A-Z a-z 0-9 - _ .`.
    BadName,
    /// A token of that name exists.
    NameTaken,
    /// The table holds [`TOKEN_CAPACITY`] tokens.
    TableFull,
    /// The secret is shorter than [`MIN_SECRET_LEN`] or longer than [`MAX_SECRET_LEN`].
    SecretLength,
    /// The secret has a character a Bearer token cannot carry (RFC 6750 `b64token`).
    SecretCharacter,
    /// No token of that name.
    NotFound,
}

impl fmt::Display for TokenError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::BadName => write!(
                formatter,
                "a token name is 1 to {NAME_CAPACITY} characters of A-Z a-z 0-9 - _ ."
            ),
            TokenError::NameTaken => formatter.write_str("a token of that name exists"),
            TokenError::TableFull => {
                write!(formatter, "the table is full ({TOKEN_CAPACITY} tokens)")
            }
            TokenError::SecretLength => write!(
                formatter,
                "a secret is {MIN_SECRET_LEN} to {MAX_SECRET_LEN} characters"
            ),
            TokenError::SecretCharacter => formatter
                .write_str("a secret is made of A-Z a-z 0-9 - . _ ~ + / (and = at the end)"),
            TokenError::NotFound => formatter.write_str("no token of that name"),
        }
    }
}

/// Whether `name` is a valid token name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_CAPACITY
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

/// Checks a secret's length and characters (RFC 6750 `b64token`).
pub fn check_secret(secret: &[u8]) -> Result<(), TokenError> {
    if secret.len() < MIN_SECRET_LEN || secret.len() > MAX_SECRET_LEN {
        return Err(TokenError::SecretLength);
    }
    let body_end = secret
        .iter()
        .rposition(|byte| *byte != b'=')
        .map_or(0, |last| last + 1);
    let body_ok = secret[..body_end].iter().all(|byte| {
        byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
    });
    if body_end == 0 || !body_ok {
        return Err(TokenError::SecretCharacter);
    }
    Ok(())
}

fn digest_of(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// The SHA-256 of `bytes`: what the table stores of a secret, and what the API's throttle
/// keeps of a wrong token (so it can tell a new guess from a repeat without keeping the token).
#[must_use]
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    digest_of(bytes)
}

/// The API tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenTable {
    entries: heapless::Vec<Token, TOKEN_CAPACITY>,
}

impl TokenTable {
    /// No tokens.
    pub const fn new() -> Self {
        TokenTable {
            entries: heapless::Vec::new(),
        }
    }

    /// Adds a console token `name` with `role` for `secret` (stored as its SHA-256).
    pub fn add(&mut self, name: &str, role: Role, secret: &[u8]) -> Result<(), TokenError> {
        self.add_with_origin(name, role, secret, Origin::Console)
    }

    /// Adds a token from the kernel command line: used this boot, never saved.
    pub fn add_from_cmdline(
        &mut self,
        name: &str,
        role: Role,
        secret: &[u8],
    ) -> Result<(), TokenError> {
        self.add_with_origin(name, role, secret, Origin::Cmdline)
    }

    fn add_with_origin(
        &mut self,
        name: &str,
        role: Role,
        secret: &[u8],
        origin: Origin,
    ) -> Result<(), TokenError> {
        check_secret(secret)?;
        self.insert(name, role, origin, digest_of(secret))
    }

    /// Adds an entry whose digest is already known (the flash codec).
    pub(crate) fn insert(
        &mut self,
        name: &str,
        role: Role,
        origin: Origin,
        digest: [u8; 32],
    ) -> Result<(), TokenError> {
        if !valid_name(name) {
            return Err(TokenError::BadName);
        }
        if self.entries.iter().any(|entry| entry.name == name) {
            return Err(TokenError::NameTaken);
        }
        let mut stored = TokenName::new();
        stored.push_str(name).map_err(|_| TokenError::BadName)?;
        self.entries
            .push(Token {
                name: stored,
                role,
                origin,
                digest,
            })
            .map_err(|_| TokenError::TableFull)
    }

    /// Adds a copy of `token` from another table (its name, role, origin and digest).
    pub fn insert_token(&mut self, token: &Token) -> Result<(), TokenError> {
        self.insert(&token.name, token.role, token.origin, token.digest)
    }

    /// Removes the token `name`; its role.
    pub fn remove(&mut self, name: &str) -> Result<Role, TokenError> {
        let index = self
            .entries
            .iter()
            .position(|entry| entry.name == name)
            .ok_or(TokenError::NotFound)?;
        Ok(self.entries.remove(index).role)
    }

    /// Removes every token from `origin`.
    pub fn remove_origin(&mut self, origin: Origin) {
        self.entries.retain(|entry| entry.origin != origin);
    }

    /// The role of the token whose secret is `presented`, if any. Hashes once, then compares
    /// with every entry in constant time, never stopping early.
    pub fn verify(&self, presented: &[u8]) -> Option<Role> {
        if presented.is_empty() || presented.len() > MAX_SECRET_LEN {
            return None;
        }
        let digest = digest_of(presented);
        let mut found = 0u8;
        for entry in &self.entries {
            let equal = entry.digest.ct_eq(&digest).unwrap_u8();
            // 0xFF when equal, 0 otherwise: keeps the matching role's code without a branch.
            let mask = 0u8.wrapping_sub(equal);
            found |= entry.role.code() & mask;
        }
        Role::from_code(found)
    }

    /// The tokens, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &Token> + '_ {
        self.entries.iter()
    }

    /// The token called `name`.
    pub fn get(&self, name: &str) -> Option<&Token> {
        self.entries.iter().find(|entry| entry.name == name)
    }

    /// How many tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No tokens.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A secret made from 32 bytes of entropy: 64 lowercase hex digits.
pub fn secret_from_entropy(entropy: &[u8; 32]) -> heapless::String<GENERATED_SECRET_LEN> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut secret = heapless::String::new();
    for byte in entropy {
        // 32 bytes make exactly 64 digits: the pushes cannot fail.
        let _ = secret.push(char::from(HEX[usize::from(byte >> 4)]));
        let _ = secret.push(char::from(HEX[usize::from(byte & 0xF)]));
    }
    secret
}

/// Mixes many weak samples (counter jitter, RNDR words) into 32 bytes through SHA-256.
#[derive(Clone)]
pub struct EntropyPool {
    hasher: Sha256,
    samples: u32,
}

impl Default for EntropyPool {
    fn default() -> Self {
        Self::new()
    }
}

impl EntropyPool {
    /// An empty pool.
    pub fn new() -> Self {
        EntropyPool {
            hasher: Sha256::new(),
            samples: 0,
        }
    }

    /// Adds one sample.
    pub fn mix(&mut self, sample: u64) {
        self.hasher.update(sample.to_le_bytes());
        self.samples = self.samples.saturating_add(1);
    }

    /// How many samples went in.
    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// The 32 bytes.
    pub fn finish(self) -> [u8; 32] {
        self.hasher.finalize().into()
    }
}

/// The kernel command-line key for API tokens: `api.token=ROLE:SECRET`, repeatable.
pub const CMDLINE_KEY: &str = "api.token=";

/// What is wrong with one `api.token=` word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdlineTokenProblem {
    /// Not `ROLE:SECRET`.
    Form,
    /// The role is not administrator, operator or read-only.
    Role,
    /// The secret or the table refused it.
    Token(TokenError),
}

impl fmt::Display for CmdlineTokenProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdlineTokenProblem::Form => formatter.write_str("expected api.token=ROLE:SECRET"),
            CmdlineTokenProblem::Role => {
                formatter.write_str("the role is administrator, operator or read-only")
            }
            CmdlineTokenProblem::Token(error) => write!(formatter, "{error}"),
        }
    }
}

/// Adds the `api.token=ROLE:SECRET` words of `cmdline` to `table`, named `cmdline1`,
/// `cmdline2`, ... in order. Calls `refused(word, problem)` for each bad word (the secret is
/// not in what it gets: the word is cut after the role). Returns how many were added.
pub fn add_cmdline_tokens(
    cmdline: &str,
    table: &mut TokenTable,
    mut refused: impl FnMut(&str, CmdlineTokenProblem),
) -> usize {
    let mut added = 0;
    let mut number = 0u32;
    for word in cmdline.split_ascii_whitespace() {
        let Some(value) = word.strip_prefix(CMDLINE_KEY) else {
            continue;
        };
        number += 1;
        let Some((role, secret)) = value.split_once(':') else {
            refused(CMDLINE_KEY.trim_end_matches('='), CmdlineTokenProblem::Form);
            continue;
        };
        let shown = &word[..CMDLINE_KEY.len() + role.len()];
        let Some(role) = Role::parse(role) else {
            refused(shown, CmdlineTokenProblem::Role);
            continue;
        };
        let mut name: heapless::String<NAME_CAPACITY> = heapless::String::new();
        let _ = fmt::write(&mut name, format_args!("cmdline{number}"));
        match table.add_from_cmdline(&name, role, secret.as_bytes()) {
            Ok(()) => added += 1,
            Err(error) => refused(shown, CmdlineTokenProblem::Token(error)),
        }
    }
    added
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::{String, ToString};
    use std::vec::Vec;

    use super::*;

    #[test]
    fn roles_read_as_words() {
        let names: Vec<String> = Role::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["administrator", "operator", "read-only"]);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.name()), Some(role));
            assert_eq!(Role::from_code(role.code()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert!(Role::Operator.can_write() && !Role::ReadOnly.can_write());
    }

    #[test]
    fn verify_finds_the_role_and_nothing_else() {
        let mut table = TokenTable::new();
        table
            .add("ops", Role::Operator, b"0123456789abcdef-ops")
            .unwrap();
        table
            .add("view", Role::ReadOnly, b"0123456789abcdef-view")
            .unwrap();
        table
            .add("boss", Role::Administrator, b"0123456789abcdef-boss")
            .unwrap();
        assert_eq!(table.verify(b"0123456789abcdef-ops"), Some(Role::Operator));
        assert_eq!(table.verify(b"0123456789abcdef-view"), Some(Role::ReadOnly));
        assert_eq!(
            table.verify(b"0123456789abcdef-boss"),
            Some(Role::Administrator)
        );
        assert_eq!(table.verify(b"0123456789abcdef-op"), None);
        assert_eq!(table.verify(b""), None);
        assert_eq!(TokenTable::new().verify(b"0123456789abcdef-ops"), None);
        table.remove("ops").unwrap();
        assert_eq!(table.verify(b"0123456789abcdef-ops"), None);
        assert_eq!(table.remove("ops"), Err(TokenError::NotFound));
    }

    #[test]
    fn the_table_refuses_bad_names_duplicates_and_overflow() {
        let mut table = TokenTable::new();
        let secret = b"abcdefghijklmnop";
        assert_eq!(
            table.add("", Role::Operator, secret),
            Err(TokenError::BadName)
        );
        assert_eq!(
            table.add("a b", Role::Operator, secret),
            Err(TokenError::BadName)
        );
        assert_eq!(
            table.add(&"x".repeat(33), Role::Operator, secret),
            Err(TokenError::BadName)
        );
        assert_eq!(
            table.add("short", Role::Operator, b"abc"),
            Err(TokenError::SecretLength)
        );
        assert_eq!(
            table.add("odd", Role::Operator, b"abcdefghijklmnop\"q"),
            Err(TokenError::SecretCharacter)
        );
        assert_eq!(
            table.add("pad", Role::Operator, b"================"),
            Err(TokenError::SecretCharacter)
        );
        for index in 0..TOKEN_CAPACITY {
            table
                .add(&std::format!("t{index}"), Role::ReadOnly, secret)
                .unwrap();
        }
        assert_eq!(
            table.add("t0", Role::ReadOnly, secret),
            Err(TokenError::NameTaken)
        );
        assert_eq!(
            table.add("more", Role::ReadOnly, secret),
            Err(TokenError::TableFull)
        );
        assert!(table.iter().all(|token| token.role() == Role::ReadOnly));
    }

    #[test]
    fn listing_never_shows_the_secret() {
        let mut table = TokenTable::new();
        table
            .add("ops", Role::Operator, b"supersecretvalue123")
            .unwrap();
        let listed = std::format!("{:?}", table);
        assert!(!listed.contains("supersecretvalue123"));
        let token = table.get("ops").unwrap();
        assert_eq!(
            (token.name(), token.role(), token.origin()),
            ("ops", Role::Operator, Origin::Console)
        );
    }

    #[test]
    fn command_line_tokens() {
        let mut table = TokenTable::new();
        let mut problems = Vec::new();
        let added = add_cmdline_tokens(
            "console=ttyAMA0 api.token=operator:0123456789abcdef api.token=boss:0123456789abcdef \
             api.token=read-only:short api.token=nocolon api.token=administrator:AAAAAAAAAAAAAAAAAAAA==",
            &mut table,
            |word, problem| problems.push(std::format!("{word}: {problem}")),
        );
        assert_eq!(added, 2);
        assert_eq!(
            problems,
            [
                "api.token=boss: the role is administrator, operator or read-only",
                "api.token=read-only: a secret is 16 to 128 characters",
                "api.token: expected api.token=ROLE:SECRET",
            ]
        );
        assert_eq!(table.verify(b"0123456789abcdef"), Some(Role::Operator));
        assert_eq!(
            table.verify(b"AAAAAAAAAAAAAAAAAAAA=="),
            Some(Role::Administrator)
        );
        assert!(table.iter().all(|token| token.origin() == Origin::Cmdline));
        assert_eq!(table.get("cmdline1").unwrap().role(), Role::Operator);
        assert_eq!(table.get("cmdline5").unwrap().role(), Role::Administrator);
        table.remove_origin(Origin::Cmdline);
        assert!(table.is_empty());
    }

    #[test]
    fn generated_secrets_are_hex_and_valid() {
        let secret = secret_from_entropy(&[0xA5; 32]);
        assert_eq!(secret.len(), GENERATED_SECRET_LEN);
        assert!(secret.starts_with("a5a5"));
        check_secret(secret.as_bytes()).unwrap();
        let mut first = EntropyPool::new();
        let mut second = EntropyPool::new();
        first.mix(1);
        second.mix(2);
        assert_eq!(first.samples(), 1);
        assert_ne!(first.finish(), second.finish());
    }
}
