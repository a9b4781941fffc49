//! Request authentication: OAuth 1.0a verification, the timestamp window and nonce replay.
//!
//! A request is authenticated when, in order:
//!
//! 1. its `Authorization` header parses as an OAuth header with an `oauth_token`;
//! 2. its `oauth_timestamp` is within the configured window (300 s by default) of the
//!    server's clock, either way (or, when configured, of the system clock: a server on a
//!    virtual clock whose clients sign with the time of day);
//! 3. the backend knows the consumer key and token ([`Backend::secrets`]);
//! 4. the signature verifies over the URL as the client saw it (`http://{Host}{path}?{query}`)
//!    and the form-body parameters ([`oauth::verify`]);
//! 5. its nonce has not been seen with the same consumer key and token within the window.
//!
//! Any failure is the same 401 `UNAUTHORIZED_ACCESS` to the client; the reason is logged at
//! debug level (without secrets). A nonce is remembered only once the signature verified, so
//! unauthenticated requests cannot fill the memory or burn other clients' nonces.
//!
//! Memory is bounded: a nonce is forgotten once its timestamp leaves the window (a replay of it
//! is then refused for its timestamp), and at most `max_nonces` are kept (past that the oldest
//! timestamps are forgotten first). Nonces are kept as SHA-1 digests of (consumer key, token,
//! nonce), 20 bytes whatever their length.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use sha1::{Digest, Sha1};

use super::backend::{Backend, Caller};
use crate::clock::SharedClock;
use crate::oauth::{self, AuthorizationHeader, Credentials, OAuthError};

/// Why a request was not authenticated (logged, never sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No `Authorization` header, or one that is not text.
    MissingHeader,
    /// The header did not parse, or named no token.
    Header(OAuthError),
    /// `oauth_timestamp` is outside the window.
    Timestamp,
    /// The backend does not know the consumer key and token.
    UnknownCredentials,
    /// The signature did not verify.
    Signature(OAuthError),
    /// The nonce was already used within the window.
    Replay,
}

type NonceKey = [u8; 20];

/// Nonces seen recently, by timestamp.
#[derive(Debug, Default)]
struct NonceCache {
    seen: HashSet<NonceKey>,
    /// `(timestamp, sequence) -> key`, for eviction oldest first.
    by_time: BTreeMap<(i64, u64), NonceKey>,
    seq: u64,
}

impl NonceCache {
    fn forget_before(&mut self, oldest: i64) {
        while let Some(entry) = self.by_time.first_entry() {
            if entry.key().0 >= oldest {
                break;
            }
            let key = entry.remove();
            self.seen.remove(&key);
        }
    }

    /// Records `key` at `timestamp`; `false` when it was already there.
    fn insert(&mut self, key: NonceKey, timestamp: i64, max: usize) -> bool {
        if self.seen.contains(&key) {
            return false;
        }
        while self.seen.len() >= max.max(1) {
            let Some((_, old)) = self.by_time.pop_first() else {
                break;
            };
            self.seen.remove(&old);
        }
        self.seq += 1;
        self.by_time.insert((timestamp, self.seq), key);
        self.seen.insert(key);
        true
    }
}

/// Verifies requests and remembers their nonces.
#[derive(Debug)]
pub(crate) struct Authenticator {
    window: TimeDelta,
    max_nonces: usize,
    /// Also accept timestamps near this clock's time (the system clock).
    wall: Option<SharedClock>,
    /// The nonces of requests whose timestamps matched the server's clock, and the wall clock:
    /// each is forgotten by its own clock.
    nonces: Mutex<[NonceCache; 2]>,
}

fn nonce_key(consumer_key: &str, token: &str, nonce: &str) -> NonceKey {
    let mut h = Sha1::new();
    for part in [consumer_key, token, nonce] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

impl Authenticator {
    pub(crate) fn new(window: TimeDelta, max_nonces: usize) -> Self {
        Self {
            window: window.abs(),
            max_nonces,
            wall: None,
            nonces: Mutex::new(Default::default()),
        }
    }

    /// The same, also accepting timestamps within the window of `wall`'s time.
    pub(crate) fn with_wall_clock(mut self, wall: SharedClock) -> Self {
        self.wall = Some(wall);
        self
    }

    /// Authenticates a request: `url` is `http://{Host}{path and query}`, `body` the decoded
    /// form-body parameters.
    pub(crate) fn authenticate(
        &self,
        backend: &dyn Backend,
        method: &str,
        url: &str,
        body: &[(String, String)],
        header: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Caller, AuthFailure> {
        let header = AuthorizationHeader::parse(header.ok_or(AuthFailure::MissingHeader)?)
            .map_err(AuthFailure::Header)?;
        let token = header
            .token()
            .ok_or(AuthFailure::Header(OAuthError::MissingParameter(
                "oauth_token",
            )))?;
        let timestamp = i64::try_from(header.timestamp()).map_err(|_| AuthFailure::Timestamp)?;
        let window = self.window.num_seconds();
        let near = |t: DateTime<Utc>| {
            let s = t.timestamp();
            timestamp >= s.saturating_sub(window) && timestamp <= s.saturating_add(window)
        };
        let (clock, now_s) = match self.wall.as_ref().map(SharedClock::now) {
            _ if near(now) => (0, now.timestamp()),
            Some(wall) if near(wall) => (1, wall.timestamp()),
            _ => return Err(AuthFailure::Timestamp),
        };
        let secrets = backend
            .secrets(header.consumer_key(), token)
            .ok_or(AuthFailure::UnknownCredentials)?;
        let credentials = Credentials::new(
            header.consumer_key(),
            secrets.consumer_secret,
            token,
            secrets.token_secret,
        );
        oauth::verify(method, url, body, &header, &credentials).map_err(AuthFailure::Signature)?;
        let key = nonce_key(header.consumer_key(), token, header.nonce());
        {
            let mut nonces = self
                .nonces
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let nonces = &mut nonces[clock];
            nonces.forget_before(now_s.saturating_sub(window));
            if !nonces.insert(key, timestamp, self.max_nonces) {
                return Err(AuthFailure::Replay);
            }
        }
        Ok(Caller {
            consumer_key: header.consumer_key().to_owned(),
            access_token: token.to_owned(),
        })
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|c| c.seen.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use analytics_core::ids::AccountId;
    use analytics_core::request::{ValidActiveEntities, ValidStats};
    use analytics_core::wire::{ActiveEntity, EntityStats};

    use super::*;
    use crate::server::backend::{
        Account, BackendError, EntityCollection, EntityListQuery, Page, Secrets,
    };

    struct OneUser;

    impl Backend for OneUser {
        fn secrets(&self, consumer_key: &str, access_token: &str) -> Option<Secrets> {
            (consumer_key == "ck" && access_token == "tok").then(|| Secrets {
                consumer_secret: "cs".into(),
                token_secret: "ts".into(),
            })
        }
        fn accounts(&self, _: &Caller, _: DateTime<Utc>) -> Vec<serde_json::Value> {
            Vec::new()
        }
        fn account(
            &self,
            _: &Caller,
            id: &AccountId,
            _: DateTime<Utc>,
        ) -> Result<Account, BackendError> {
            Err(BackendError::AccountNotFound(id.to_string()))
        }
        fn stats(
            &self,
            _: &Account,
            _: &ValidStats,
            _: DateTime<Utc>,
        ) -> Result<Vec<EntityStats>, BackendError> {
            Ok(Vec::new())
        }
        fn active_entities(
            &self,
            _: &Account,
            _: &ValidActiveEntities,
            _: DateTime<Utc>,
        ) -> Result<Vec<ActiveEntity>, BackendError> {
            Ok(Vec::new())
        }
        fn entities(
            &self,
            _: &Account,
            _: EntityCollection,
            _: &EntityListQuery,
            _: DateTime<Utc>,
        ) -> Result<Page, BackendError> {
            Err(BackendError::NotFound("none".into()))
        }
    }

    const URL: &str = "http://127.0.0.1:9/12/accounts";
    const NO_BODY: &[(String, String)] = &[];

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    fn header(nonce: &str, ts: u64) -> String {
        let creds = Credentials::new("ck", "cs", "tok", "ts");
        oauth::sign("GET", URL, NO_BODY, &creds, nonce, ts).unwrap()
    }

    #[test]
    fn window_and_replay() {
        let auth = Authenticator::new(TimeDelta::seconds(300), 1000);
        let now = at(1_700_000_000);
        let check = |h: &str, now| auth.authenticate(&OneUser, "GET", URL, NO_BODY, Some(h), now);
        assert!(check(&header("a", 1_700_000_000), now).is_ok());
        assert_eq!(
            check(&header("a", 1_700_000_000), now),
            Err(AuthFailure::Replay)
        );
        assert!(check(&header("b", 1_700_000_300), now).is_ok());
        assert!(check(&header("c", 1_699_999_700), now).is_ok());
        assert_eq!(
            check(&header("d", 1_700_000_301), now),
            Err(AuthFailure::Timestamp)
        );
        assert_eq!(
            check(&header("e", 1_699_999_699), now),
            Err(AuthFailure::Timestamp)
        );
        // Once the timestamps leave the window, their nonces are forgotten (and their replays
        // refused by the window).
        let later = at(1_700_000_000 + 700);
        assert_eq!(
            check(&header("a", 1_700_000_000), later),
            Err(AuthFailure::Timestamp)
        );
        assert!(check(&header("f", 1_700_000_700), later).is_ok());
        assert_eq!(auth.remembered(), 1);
        // A bad signature does not burn the nonce.
        let bad = header("g", 1_700_000_700).replace("oauth_nonce=\"g\"", "oauth_nonce=\"h\"");
        assert!(matches!(
            check(&bad, later),
            Err(AuthFailure::Signature(OAuthError::SignatureMismatch))
        ));
        assert!(check(&header("h", 1_700_000_700), later).is_ok());
        assert_eq!(
            check("Basic x", later),
            Err(AuthFailure::Header(OAuthError::NotOAuth))
        );
        let unknown = oauth::sign(
            "GET",
            URL,
            NO_BODY,
            &Credentials::new("ck", "cs", "other", "ts"),
            "i",
            1_700_000_700,
        )
        .unwrap();
        assert_eq!(check(&unknown, later), Err(AuthFailure::UnknownCredentials));
    }

    #[test]
    fn memory_is_bounded() {
        let auth = Authenticator::new(TimeDelta::seconds(300), 3);
        let now = at(1_700_000_000);
        for (i, n) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            let h = header(n, 1_700_000_000 + i as u64);
            assert!(
                auth.authenticate(&OneUser, "GET", URL, NO_BODY, Some(&h), now)
                    .is_ok()
            );
        }
        assert_eq!(auth.remembered(), 3);
    }
}
