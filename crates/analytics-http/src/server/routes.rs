//! Routing: which endpoint a method and a path name.
//!
//! Every API route lives under a version prefix, `/11/` or `/12/`; any other first segment is
//! an unknown route. Paths match exactly (no trailing slash, no empty segment). Result files
//! live under the prefix their [`JobRoutes`](super::JobRoutes) gives, with no version.

use http::Method;

use super::backend::{EntityCollection, RouteKind};

/// The API versions served, as path segments.
pub const SUPPORTED_VERSIONS: [&str; 2] = ["11", "12"];

/// The current API version (`x-current-api-version`).
pub const CURRENT_VERSION: &str = "12";

/// A matched endpoint, with the path's ids as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    SyncStats {
        account: String,
    },
    ActiveEntities {
        account: String,
    },
    Accounts,
    Account {
        account: String,
    },
    Entities {
        account: String,
        collection: EntityCollection,
    },
    JobCreate {
        account: String,
    },
    JobList {
        account: String,
    },
    JobCancel {
        account: String,
        job_id: String,
    },
    JobResult,
}

impl Endpoint {
    pub(crate) fn kind(&self) -> RouteKind {
        match self {
            Self::SyncStats { .. } => RouteKind::SyncStats,
            Self::ActiveEntities { .. } => RouteKind::ActiveEntities,
            Self::Accounts | Self::Account { .. } => RouteKind::Accounts,
            Self::Entities { .. } => RouteKind::Entities,
            Self::JobCreate { .. } | Self::JobList { .. } | Self::JobCancel { .. } => {
                RouteKind::Jobs
            }
            Self::JobResult => RouteKind::JobResult,
        }
    }
}

/// What routing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Routed {
    Found(Endpoint),
    MethodNotAllowed { allow: &'static str },
    NotFound,
}

/// The version segment of `path`, if it is a supported one.
pub(crate) fn version_of(path: &str) -> Option<&'static str> {
    let first = path.strip_prefix('/')?.split('/').next()?;
    SUPPORTED_VERSIONS.into_iter().find(|v| *v == first)
}

fn id(segment: &str) -> Option<String> {
    (!segment.is_empty()).then(|| segment.to_owned())
}

/// Routes `method` and `path`. `result_prefix` is the result-file prefix when job routes are
/// served; `None` leaves every job path unknown.
pub(crate) fn route(method: &Method, path: &str, result_prefix: Option<&str>) -> Routed {
    let get_only = |e: Option<Endpoint>| match e {
        None => Routed::NotFound,
        Some(e) if method == Method::GET => Routed::Found(e),
        Some(_) => Routed::MethodNotAllowed { allow: "GET" },
    };
    if let Some(prefix) = result_prefix.filter(|p| !p.is_empty())
        && path.len() > prefix.len()
        && path.starts_with(prefix)
    {
        return get_only(Some(Endpoint::JobResult));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Routed::NotFound;
    };
    let segments: Vec<&str> = rest.splitn(8, '/').collect();
    let Some((version, segments)) = segments.split_first() else {
        return Routed::NotFound;
    };
    if !SUPPORTED_VERSIONS.contains(version) {
        return Routed::NotFound;
    }
    let jobs = result_prefix.is_some();
    match *segments {
        ["stats", "accounts", a] => get_only(id(a).map(|account| Endpoint::SyncStats { account })),
        ["stats", "accounts", a, "active_entities"] => {
            get_only(id(a).map(|account| Endpoint::ActiveEntities { account }))
        }
        ["accounts"] => get_only(Some(Endpoint::Accounts)),
        ["accounts", a] => get_only(id(a).map(|account| Endpoint::Account { account })),
        ["accounts", a, c] => get_only(id(a).and_then(|account| {
            EntityCollection::from_path(c).map(|collection| Endpoint::Entities {
                account,
                collection,
            })
        })),
        ["stats", "jobs", "accounts", a] if jobs => match id(a) {
            None => Routed::NotFound,
            Some(account) if method == Method::GET => Routed::Found(Endpoint::JobList { account }),
            Some(account) if method == Method::POST => {
                Routed::Found(Endpoint::JobCreate { account })
            }
            Some(_) => Routed::MethodNotAllowed { allow: "GET, POST" },
        },
        ["stats", "jobs", "accounts", a, j] if jobs => match (id(a), id(j)) {
            (Some(account), Some(job_id)) if method == Method::DELETE => {
                Routed::Found(Endpoint::JobCancel { account, job_id })
            }
            (Some(_), Some(_)) => Routed::MethodNotAllowed { allow: "DELETE" },
            _ => Routed::NotFound,
        },
        _ => Routed::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(method: Method, path: &str, jobs: bool, expect: Routed) {
        let prefix = jobs.then_some("/files/");
        assert_eq!(route(&method, path, prefix), expect, "{method} {path}");
    }

    fn found(e: Endpoint) -> Routed {
        Routed::Found(e)
    }

    #[test]
    fn routes_every_endpoint() {
        let a = || "abc1".to_owned();
        for v in ["11", "12"] {
            check(
                Method::GET,
                &format!("/{v}/stats/accounts/abc1"),
                false,
                found(Endpoint::SyncStats { account: a() }),
            );
            check(
                Method::GET,
                &format!("/{v}/stats/accounts/abc1/active_entities"),
                false,
                found(Endpoint::ActiveEntities { account: a() }),
            );
            check(
                Method::GET,
                &format!("/{v}/accounts"),
                false,
                found(Endpoint::Accounts),
            );
            check(
                Method::GET,
                &format!("/{v}/accounts/abc1"),
                false,
                found(Endpoint::Account { account: a() }),
            );
            for c in EntityCollection::ALL {
                check(
                    Method::GET,
                    &format!("/{v}/accounts/abc1/{}", c.path()),
                    false,
                    found(Endpoint::Entities {
                        account: a(),
                        collection: c,
                    }),
                );
            }
            check(
                Method::POST,
                &format!("/{v}/stats/jobs/accounts/abc1"),
                true,
                found(Endpoint::JobCreate { account: a() }),
            );
            check(
                Method::GET,
                &format!("/{v}/stats/jobs/accounts/abc1"),
                true,
                found(Endpoint::JobList { account: a() }),
            );
            check(
                Method::DELETE,
                &format!("/{v}/stats/jobs/accounts/abc1/77"),
                true,
                found(Endpoint::JobCancel {
                    account: a(),
                    job_id: "77".into(),
                }),
            );
        }
        check(
            Method::GET,
            "/files/x.json.gz",
            true,
            found(Endpoint::JobResult),
        );
    }

    #[test]
    fn refuses_unknown_paths_and_methods() {
        for path in [
            "/",
            "",
            "/10/accounts",
            "/12",
            "/12/",
            "/12/accounts/",
            "/12/accounts//campaigns",
            "/12/accounts/a/tweets",
            "/12/stats/accounts",
            "/12/stats/accounts/a/active_entities/x",
            "/12/stats/jobs/accounts/a",
            "/12/stats/jobs/accounts/a/1",
            "/files/x",
            "12/accounts",
        ] {
            check(Method::GET, path, false, Routed::NotFound);
        }
        check(Method::GET, "/files/", true, Routed::NotFound);
        check(
            Method::POST,
            "/12/stats/accounts/a",
            false,
            Routed::MethodNotAllowed { allow: "GET" },
        );
        check(
            Method::DELETE,
            "/11/stats/jobs/accounts/a",
            true,
            Routed::MethodNotAllowed { allow: "GET, POST" },
        );
        check(
            Method::GET,
            "/11/stats/jobs/accounts/a/1",
            true,
            Routed::MethodNotAllowed { allow: "DELETE" },
        );
        check(
            Method::POST,
            "/files/x",
            true,
            Routed::MethodNotAllowed { allow: "GET" },
        );
        assert_eq!(version_of("/11/accounts"), Some("11"));
        assert_eq!(version_of("/13/accounts"), None);
        assert_eq!(version_of("/files/x"), None);
    }
}
