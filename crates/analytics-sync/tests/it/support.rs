//! Helpers shared by the integration tests.

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::chrono_tz::UTC;
use analytics_core::ids::AccountId;
use analytics_core::time::parse_time;

pub(crate) fn t(s: &str) -> DateTime<Utc> {
    parse_time(s, UTC).unwrap()
}

pub(crate) fn acct() -> AccountId {
    AccountId::new("18ce54d4x5t").unwrap()
}
