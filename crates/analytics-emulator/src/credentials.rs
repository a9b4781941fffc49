//! Credential sets and the accounts each can see.
//!
//! The demo credentials ([`Credentials::demo`]) see every account of the dataset:
//!
//! | | |
//! |---|---|
//! | consumer key | `adstats-demo-consumer` |
//! | consumer secret | `adstats-demo-consumer-secret` |
//! | access token | `adstats-demo-token` |
//! | token secret | `adstats-demo-token-secret` |
//!
//! More sets can be added with their own visible accounts, to test that a credential sees only
//! its own accounts (others answer 403). `Debug` never prints the secrets.

use std::fmt;

/// The demo consumer key.
pub const DEMO_CONSUMER_KEY: &str = "adstats-demo-consumer";
/// The demo consumer secret.
pub const DEMO_CONSUMER_SECRET: &str = "adstats-demo-consumer-secret";
/// The demo access token.
pub const DEMO_ACCESS_TOKEN: &str = "adstats-demo-token";
/// The demo access token secret.
pub const DEMO_TOKEN_SECRET: &str = "adstats-demo-token-secret";

/// Which accounts a credential set sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every account.
    All,
    /// Only these account ids.
    Only(Vec<String>),
}

impl Visibility {
    /// Whether account `id` is visible.
    pub fn sees(&self, id: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(ids) => ids.iter().any(|x| x == id),
        }
    }
}

/// One OAuth 1.0a credential set: an application's consumer pair and a user's token pair.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The consumer key.
    pub consumer_key: String,
    /// The consumer secret.
    pub consumer_secret: String,
    /// The access token.
    pub access_token: String,
    /// The access token secret.
    pub token_secret: String,
    /// The accounts it sees.
    pub visibility: Visibility,
}

impl Credentials {
    /// A credential set.
    pub fn new(
        consumer_key: impl Into<String>,
        consumer_secret: impl Into<String>,
        access_token: impl Into<String>,
        token_secret: impl Into<String>,
        visibility: Visibility,
    ) -> Self {
        Self {
            consumer_key: consumer_key.into(),
            consumer_secret: consumer_secret.into(),
            access_token: access_token.into(),
            token_secret: token_secret.into(),
            visibility,
        }
    }

    /// The demo credentials, seeing every account.
    pub fn demo() -> Self {
        Self::new(
            DEMO_CONSUMER_KEY,
            DEMO_CONSUMER_SECRET,
            DEMO_ACCESS_TOKEN,
            DEMO_TOKEN_SECRET,
            Visibility::All,
        )
    }

    /// Whether this set is the pair `(consumer_key, access_token)`.
    pub fn matches(&self, consumer_key: &str, access_token: &str) -> bool {
        self.consumer_key == consumer_key && self.access_token == access_token
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("consumer_key", &self.consumer_key)
            .field("access_token", &self.access_token)
            .field("visibility", &self.visibility)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::demo();
        let d = format!("{c:?}");
        assert!(d.contains("adstats-demo-consumer"));
        assert!(!d.contains("secret"), "{d}");
        assert!(c.visibility.sees("anything"));
        assert!(!Visibility::Only(vec!["a".into()]).sees("b"));
    }
}
