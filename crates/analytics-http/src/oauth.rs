//! OAuth 1.0a HMAC-SHA1 (RFC 5849), both sides: the client signs, the server verifies.
//!
//! Every Ads API request carries an `Authorization: OAuth ...` header signed with the
//! application's consumer secret and the user's access token secret (spec §12):
//!
//! - **Percent-encoding** ([`percent_encode`]) is RFC 3986's: only `A-Z a-z 0-9 - . _ ~` stay
//!   as they are, every other byte of the UTF-8 text is `%XX` with uppercase hex (a space is
//!   `%20`, never `+`).
//! - **Signature base string** ([`signature_base_string`]):
//!   `UPPER(method) & enc(base URL) & enc(normalized parameters)`. The base URL is the request
//!   URL without query and fragment, with scheme and host lowercased and the default port (80
//!   for `http`, 443 for `https`) dropped. The normalized parameters are the query parameters,
//!   the `application/x-www-form-urlencoded` body parameters and the header's parameters (all
//!   but `realm` and `oauth_signature`), each name and value encoded, sorted by name then value,
//!   joined as `name=value` with `&`. Because the parameter string is encoded once more, a `:`
//!   in a time is `%253A` in the base string and a `,` in an id list `%252C`: the Ads API's
//!   classic signing mistake.
//! - **Signature** ([`signature`]): HMAC-SHA1 keyed with `enc(consumer_secret)&enc(token_secret)`,
//!   base64.
//!
//! [`sign`] builds the header value of a request; [`AuthorizationHeader::parse`] and [`verify`]
//! check one. Nothing here reads the clock or draws random numbers: the nonce and the timestamp
//! are passed in, and the server checks the timestamp window and nonce replay itself
//! (`server`), so every function is deterministic and testable against the RFC's examples.
//!
//! Query strings and form bodies are decoded as `application/x-www-form-urlencoded` (`+` is a
//! space) by the same decoder the server reads parameters with
//! ([`RawParams::from_query`](analytics_core::request::RawParams::from_query)), so the
//! parameters that are signed are exactly those that are validated.
//!
//! Secrets never leave this module in a printable form: [`Credentials`]' `Debug` redacts them
//! and no [`OAuthError`] carries one.

use std::fmt;

use analytics_core::request::RawParams;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha1::Sha1;

/// The only signature method supported (and the only one the Ads API accepts).
pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";

/// The protocol version sent in `oauth_version` (and the only one accepted when present).
pub const VERSION: &str = "1.0";

/// RFC 3986 unreserved characters stay; everything else is encoded.
const ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

type HmacSha1 = Hmac<Sha1>;

/// A problem with an OAuth header, a URL to sign, or a signature.
///
/// None of the variants carries a secret; a few carry the offending (public) value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// The URL is not an absolute `http` or `https` URL with a host.
    #[error("the url is not an absolute http or https url with a host")]
    InvalidUrl,
    /// The `Authorization` header does not use the `OAuth` scheme.
    #[error("the authorization header does not use the OAuth scheme")]
    NotOAuth,
    /// The `Authorization` header is not a list of `name="value"` pairs.
    #[error("the authorization header is malformed")]
    MalformedHeader,
    /// The `Authorization` header gives a parameter twice.
    #[error("the authorization header repeats parameter {0}")]
    DuplicateParameter(String),
    /// The `Authorization` header lacks a required parameter.
    #[error("the authorization header lacks parameter {0}")]
    MissingParameter(&'static str),
    /// `oauth_timestamp` is not a number of seconds.
    #[error("oauth_timestamp is not a number of seconds")]
    InvalidTimestamp,
    /// `oauth_signature_method` is not `HMAC-SHA1`.
    #[error("unsupported signature method {0:?}")]
    UnsupportedSignatureMethod(String),
    /// `oauth_version` is present and is not `1.0`.
    #[error("unsupported oauth version {0:?}")]
    UnsupportedVersion(String),
    /// The header's consumer key or token is not the one of the credentials checked against.
    #[error("the authorization header names other credentials")]
    CredentialsMismatch,
    /// The signature is not the one the credentials give for this request.
    #[error("the signature does not match the request")]
    SignatureMismatch,
}

/// The four values that sign a request. `Debug` shows the keys and hides the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    consumer_key: String,
    consumer_secret: String,
    token: String,
    token_secret: String,
}

impl Credentials {
    /// Credentials of an application (`consumer_key`, `consumer_secret`) acting for a user
    /// (`token`, `token_secret`).
    pub fn new(
        consumer_key: impl Into<String>,
        consumer_secret: impl Into<String>,
        token: impl Into<String>,
        token_secret: impl Into<String>,
    ) -> Self {
        Self {
            consumer_key: consumer_key.into(),
            consumer_secret: consumer_secret.into(),
            token: token.into(),
            token_secret: token_secret.into(),
        }
    }

    /// The application's consumer key (public: it is sent with every request).
    pub fn consumer_key(&self) -> &str {
        &self.consumer_key
    }

    /// The user's access token (public: it is sent with every request).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The consumer secret. Never log it.
    pub fn consumer_secret(&self) -> &str {
        &self.consumer_secret
    }

    /// The access token secret. Never log it.
    pub fn token_secret(&self) -> &str {
        &self.token_secret
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"<redacted>")
            .field("token", &self.token)
            .field("token_secret", &"<redacted>")
            .finish()
    }
}

/// Percent-encodes `s` as RFC 5849 §3.6 wants: only `A-Z a-z 0-9 - . _ ~` unescaped, uppercase
/// hex, UTF-8 bytes.
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, ENCODE_SET).to_string()
}

/// The base string URI of `url` (RFC 5849 §3.4.1.2) and its query, if any.
///
/// Scheme and host are lowercased, the default port is dropped, userinfo is refused, the
/// fragment is ignored and an empty path is `/`. The path is kept as given (already encoded).
fn split_url(url: &str) -> Result<(String, Option<&str>), OAuthError> {
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    let (scheme, rest) = url.split_once("://").ok_or(OAuthError::InvalidUrl)?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return Err(OAuthError::InvalidUrl),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(OAuthError::InvalidUrl);
    }
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    // Host and port; an IPv6 literal keeps its brackets.
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']').ok_or(OAuthError::InvalidUrl)?;
        let (h, p) = authority.split_at(close + 1);
        match p {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or(OAuthError::InvalidUrl)?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.bytes().any(|b| b.is_ascii_whitespace() || b == b'/') {
        return Err(OAuthError::InvalidUrl);
    }
    let port = match port {
        Some(p) if !p.bytes().all(|b| b.is_ascii_digit()) => return Err(OAuthError::InvalidUrl),
        Some(p) if p.is_empty() || p == default_port => None,
        p => p,
    };
    let mut base = format!("{scheme}://{}", host.to_ascii_lowercase());
    if let Some(p) = port {
        base.push(':');
        base.push_str(p);
    }
    base.push_str(path);
    Ok((base, query))
}

/// The normalized parameter string (RFC 5849 §3.4.1.3.2): encoded pairs, sorted, `&`-joined.
fn normalized_parameters(pairs: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    encoded.sort_unstable();
    let mut out = String::new();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn base_string_of<'a>(
    method: &str,
    url: &str,
    extra: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<String, OAuthError> {
    let (base_url, query) = split_url(url)?;
    let query = query.map(RawParams::from_query).unwrap_or_default();
    let mut pairs: Vec<(&str, &str)> = query
        .pairs()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (k, v) in extra {
        pairs.push((k, v));
    }
    let params = normalized_parameters(&pairs);
    Ok(format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode(&base_url),
        percent_encode(&params)
    ))
}

/// The signature base string of a request (RFC 5849 §3.4.1).
///
/// `url` is the URL as the client sends it; its query parameters are included. `params` are
/// the other parameters, decoded: the form body's and the `oauth_*` protocol parameters (all but
/// `oauth_signature`).
pub fn signature_base_string<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    url: &str,
    params: &[(K, V)],
) -> Result<String, OAuthError> {
    base_string_of(
        method,
        url,
        params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
    )
}

fn mac(consumer_secret: &str, token_secret: &str) -> HmacSha1 {
    let key = format!(
        "{}&{}",
        percent_encode(consumer_secret),
        percent_encode(token_secret)
    );
    // HMAC takes keys of any length.
    HmacSha1::new_from_slice(key.as_bytes()).unwrap_or_else(|_| unreachable!())
}

/// The HMAC-SHA1 signature of `base_string`, base64 (RFC 5849 §3.4.2), keyed with
/// `enc(consumer_secret)&enc(token_secret)`.
pub fn signature(base_string: &str, consumer_secret: &str, token_secret: &str) -> String {
    let mut mac = mac(consumer_secret, token_secret);
    mac.update(base_string.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// Signs a request and returns the value of its `Authorization` header:
/// `OAuth oauth_consumer_key="...", oauth_nonce="...", oauth_signature="...",
/// oauth_signature_method="HMAC-SHA1", oauth_timestamp="...", oauth_token="...",
/// oauth_version="1.0"`.
///
/// `url` is the URL the request is sent to, query included; `params` are the decoded form-body
/// parameters (empty for a request without a form body). `nonce` should be unique per request
/// (alphanumeric is safest) and `timestamp` is the current Unix time in seconds: both are the
/// caller's, so that signing is deterministic.
pub fn sign<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    url: &str,
    params: &[(K, V)],
    credentials: &Credentials,
    nonce: &str,
    timestamp: u64,
) -> Result<String, OAuthError> {
    let timestamp = timestamp.to_string();
    let mut protocol: Vec<(&str, &str)> = vec![
        ("oauth_consumer_key", credentials.consumer_key()),
        ("oauth_nonce", nonce),
        ("oauth_signature_method", SIGNATURE_METHOD),
        ("oauth_timestamp", &timestamp),
        ("oauth_token", credentials.token()),
        ("oauth_version", VERSION),
    ];
    let base = base_string_of(
        method,
        url,
        params
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .chain(protocol.iter().copied()),
    )?;
    let sig = signature(
        &base,
        credentials.consumer_secret(),
        credentials.token_secret(),
    );
    protocol.push(("oauth_signature", &sig));
    protocol.sort_unstable();
    let mut header = String::from("OAuth ");
    for (i, (k, v)) in protocol.iter().enumerate() {
        if i > 0 {
            header.push_str(", ");
        }
        header.push_str(k);
        header.push_str("=\"");
        header.push_str(&percent_encode(v));
        header.push('"');
    }
    Ok(header)
}

/// A parsed `Authorization: OAuth ...` header (RFC 5849 §3.5.1), values decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    /// Every parameter but `realm`, in header order.
    params: Vec<(String, String)>,
    realm: Option<String>,
    timestamp: u64,
}

impl fmt::Debug for AuthorizationHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signature is not a secret, but there is no reason to print it either.
        f.debug_struct("AuthorizationHeader")
            .field("consumer_key", &self.consumer_key())
            .field("token", &self.token())
            .field("timestamp", &self.timestamp)
            .field("nonce", &self.nonce())
            .finish_non_exhaustive()
    }
}

impl AuthorizationHeader {
    /// Parses a header value: the `OAuth` scheme (any case), then `name="value"` pairs separated
    /// by commas and optional whitespace. Values are percent-decoded.
    ///
    /// Requires `oauth_consumer_key`, `oauth_nonce`, `oauth_signature`,
    /// `oauth_signature_method` and a numeric `oauth_timestamp`; refuses repeated parameters.
    /// The method and version are checked by [`verify`].
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        let value = value.trim_matches([' ', '\t']);
        let (scheme, mut rest) = value.split_once([' ', '\t']).ok_or(OAuthError::NotOAuth)?;
        if !scheme.eq_ignore_ascii_case("OAuth") {
            return Err(OAuthError::NotOAuth);
        }
        let mut params: Vec<(String, String)> = Vec::new();
        let mut realm = None;
        loop {
            rest = rest.trim_start_matches([' ', '\t']);
            if rest.is_empty() {
                break;
            }
            let (name, after) = rest.split_once('=').ok_or(OAuthError::MalformedHeader)?;
            let name = name.trim_end_matches([' ', '\t']);
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(OAuthError::MalformedHeader);
            }
            let after = after
                .trim_start_matches([' ', '\t'])
                .strip_prefix('"')
                .ok_or(OAuthError::MalformedHeader)?;
            let (raw, after) = after.split_once('"').ok_or(OAuthError::MalformedHeader)?;
            let decoded = percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| OAuthError::MalformedHeader)?
                .into_owned();
            if name == "realm" {
                if realm.is_some() {
                    return Err(OAuthError::DuplicateParameter(name.to_owned()));
                }
                realm = Some(decoded);
            } else {
                if params.iter().any(|(k, _)| k == name) {
                    return Err(OAuthError::DuplicateParameter(name.to_owned()));
                }
                params.push((name.to_owned(), decoded));
            }
            rest = after.trim_start_matches([' ', '\t']);
            match rest.strip_prefix(',') {
                Some(r) => rest = r,
                None if rest.is_empty() => break,
                None => return Err(OAuthError::MalformedHeader),
            }
        }
        let find = |name: &'static str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .ok_or(OAuthError::MissingParameter(name))
        };
        for name in [
            "oauth_consumer_key",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
        ] {
            find(name)?;
        }
        let ts = find("oauth_timestamp")?;
        if ts.is_empty() || ts.len() > 19 || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return Err(OAuthError::InvalidTimestamp);
        }
        let timestamp = ts.parse().map_err(|_| OAuthError::InvalidTimestamp)?;
        Ok(Self {
            params,
            realm,
            timestamp,
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> &str {
        // `parse` checked the required parameters.
        self.get(name).unwrap_or_default()
    }

    /// `oauth_consumer_key`.
    pub fn consumer_key(&self) -> &str {
        self.required("oauth_consumer_key")
    }

    /// `oauth_token`, if given.
    pub fn token(&self) -> Option<&str> {
        self.get("oauth_token")
    }

    /// `oauth_nonce`.
    pub fn nonce(&self) -> &str {
        self.required("oauth_nonce")
    }

    /// `oauth_timestamp`, Unix seconds.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// `oauth_signature_method`.
    pub fn signature_method(&self) -> &str {
        self.required("oauth_signature_method")
    }

    /// `oauth_version`, if given.
    pub fn version(&self) -> Option<&str> {
        self.get("oauth_version")
    }

    /// `oauth_signature` (base64, decoded from the header's percent-encoding).
    pub fn signature(&self) -> &str {
        self.required("oauth_signature")
    }

    /// `realm`, if given (it is not signed).
    pub fn realm(&self) -> Option<&str> {
        self.realm.as_deref()
    }

    /// The signature base string of the request this header claims to sign: `url` with its
    /// query, the decoded form-body `params`, and this header's parameters but
    /// `oauth_signature`.
    pub fn signature_base_string<K: AsRef<str>, V: AsRef<str>>(
        &self,
        method: &str,
        url: &str,
        params: &[(K, V)],
    ) -> Result<String, OAuthError> {
        base_string_of(
            method,
            url,
            params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).chain(
                self.params
                    .iter()
                    .filter(|(k, _)| k != "oauth_signature")
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            ),
        )
    }
}

/// Checks that `header` signs the request (`method`, `url` with its query, decoded form-body
/// `params`) with `credentials`.
///
/// Checks, in order: the signature method is `HMAC-SHA1`; `oauth_version`, if present, is
/// `1.0`; the header names the credentials' consumer key and token; the signature matches,
/// compared in constant time. The timestamp window and nonce replay are the caller's to check
/// (they need a clock and memory).
pub fn verify<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    url: &str,
    params: &[(K, V)],
    header: &AuthorizationHeader,
    credentials: &Credentials,
) -> Result<(), OAuthError> {
    if header.signature_method() != SIGNATURE_METHOD {
        return Err(OAuthError::UnsupportedSignatureMethod(
            header.signature_method().to_owned(),
        ));
    }
    if let Some(v) = header.version().filter(|v| *v != VERSION) {
        return Err(OAuthError::UnsupportedVersion(v.to_owned()));
    }
    if header.consumer_key() != credentials.consumer_key()
        || header.token() != Some(credentials.token())
    {
        return Err(OAuthError::CredentialsMismatch);
    }
    let base = header.signature_base_string(method, url, params)?;
    let given = BASE64
        .decode(header.signature())
        .map_err(|_| OAuthError::SignatureMismatch)?;
    let mut mac = mac(credentials.consumer_secret(), credentials.token_secret());
    mac.update(base.as_bytes());
    mac.verify_slice(&given)
        .map_err(|_| OAuthError::SignatureMismatch)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const NO_PARAMS: &[(&str, &str)] = &[];

    #[test]
    fn encodes_as_rfc_3986() {
        assert_eq!(
            percent_encode("Ladies + Gentlemen"),
            "Ladies%20%2B%20Gentlemen"
        );
        assert_eq!(
            percent_encode("An encoded string!"),
            "An%20encoded%20string%21"
        );
        assert_eq!(
            percent_encode("Dogs, Cats & Mice"),
            "Dogs%2C%20Cats%20%26%20Mice"
        );
        assert_eq!(percent_encode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(percent_encode("☃"), "%E2%98%83");
        assert_eq!(
            percent_encode("2024-01-01T00:00:00Z"),
            "2024-01-01T00%3A00%3A00Z"
        );
    }

    #[test]
    fn normalizes_base_urls() {
        #[track_caller]
        fn check(url: &str, expect: &str) {
            assert_eq!(split_url(url).unwrap().0, expect);
        }
        check(
            "HTTP://EXAMPLE.COM:80/r%20v/X?id=123",
            "http://example.com/r%20v/X",
        );
        check(
            "https://www.example.net:8080/?q=1",
            "https://www.example.net:8080/",
        );
        check(
            "https://ads-api.x.com:443/12/accounts",
            "https://ads-api.x.com/12/accounts",
        );
        check("http://127.0.0.1:8080", "http://127.0.0.1:8080/");
        check("http://[::1]:80/a#frag", "http://[::1]/a");
        check("http://[::1]:81/a", "http://[::1]:81/a");
        for bad in [
            "ftp://x/",
            "/relative",
            "http:///nohost",
            "http://u:p@host/",
            "http://host:8x/",
        ] {
            assert_eq!(split_url(bad), Err(OAuthError::InvalidUrl), "{bad}");
        }
    }

    /// RFC 5849 §3.4.1.1: the example request and its signature base string.
    #[test]
    fn rfc5849_base_string_example() {
        let header = AuthorizationHeader::parse(
            "OAuth realm=\"Example\", oauth_consumer_key=\"9djdj82h48djs9d2\", \
             oauth_token=\"kkk9d7dh3k39sjv7\", oauth_signature_method=\"HMAC-SHA1\", \
             oauth_timestamp=\"137131201\", oauth_nonce=\"7d8f3e4a\", \
             oauth_signature=\"bYT5CMsGcbgUdFHObYMEfcx6bsw%3D\"",
        )
        .unwrap();
        assert_eq!(header.realm(), Some("Example"));
        assert_eq!(header.signature(), "bYT5CMsGcbgUdFHObYMEfcx6bsw=");
        let body = RawParams::from_query("c2&a3=2+q");
        let base = header
            .signature_base_string(
                "POST",
                "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
                body.pairs(),
            )
            .unwrap();
        assert_eq!(
            base,
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q\
             %26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_\
             key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m\
             ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk\
             9d7dh3k39sjv7"
        );
    }

    fn photos_credentials() -> Credentials {
        Credentials::new(
            "dpf43f3p2l4k3l03",
            "kd94hf93k423kf44",
            "nnch734d00sl2jdk",
            "pfkkdhi9sl3r4s00",
        )
    }

    /// RFC 5849 §1.2: the photos request, its base string and signature.
    #[test]
    fn rfc5849_photos_example() {
        let url = "http://photos.example.net/photos?file=vacation.jpg&size=original";
        let base = signature_base_string(
            "GET",
            url,
            &[
                ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
                ("oauth_token", "nnch734d00sl2jdk"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "137131202"),
                ("oauth_nonce", "chapoH"),
            ],
        )
        .unwrap();
        assert_eq!(
            base,
            "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26\
             oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26\
             oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131202%26\
             oauth_token%3Dnnch734d00sl2jdk%26size%3Doriginal"
        );
        assert_eq!(
            signature(&base, "kd94hf93k423kf44", "pfkkdhi9sl3r4s00"),
            "MdpQcU8iPSUjWoN/UDMsK2sui9I="
        );

        // The RFC's header verifies (it has no oauth_version, which is optional).
        let header = AuthorizationHeader::parse(
            "OAuth realm=\"Photos\", oauth_consumer_key=\"dpf43f3p2l4k3l03\", \
             oauth_token=\"nnch734d00sl2jdk\", oauth_signature_method=\"HMAC-SHA1\", \
             oauth_timestamp=\"137131202\", oauth_nonce=\"chapoH\", \
             oauth_signature=\"MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D\"",
        )
        .unwrap();
        assert_eq!(header.timestamp(), 137_131_202);
        assert_eq!(header.version(), None);
        verify("GET", url, NO_PARAMS, &header, &photos_credentials()).unwrap();
        // The host as the client saw it may differ in case and carry the default port.
        verify(
            "get",
            "HTTP://Photos.Example.NET:80/photos?size=original&file=vacation.jpg",
            NO_PARAMS,
            &header,
            &photos_credentials(),
        )
        .unwrap();
        assert_eq!(
            verify(
                "GET",
                "http://photos.example.net/photos?file=vacation.jpg&size=small",
                NO_PARAMS,
                &header,
                &photos_credentials()
            ),
            Err(OAuthError::SignatureMismatch)
        );
    }

    /// X's "Creating a signature" guide: a POST with a query and a form body, signed with
    /// `oauth_version="1.0"`.
    #[test]
    fn x_guide_example() {
        let creds = Credentials::new(
            "xvz1evFS4wEEPTGEFPHBog",
            "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
            "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
            "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
        );
        let url = "https://api.twitter.com/1.1/statuses/update.json?include_entities=true";
        let body = [(
            "status",
            "Hello Ladies + Gentlemen, a signed OAuth request!",
        )];
        let header = sign(
            "POST",
            url,
            &body,
            &creds,
            "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
            1_318_622_958,
        )
        .unwrap();
        assert_eq!(
            header,
            "OAuth oauth_consumer_key=\"xvz1evFS4wEEPTGEFPHBog\", \
             oauth_nonce=\"kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg\", \
             oauth_signature=\"hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D\", \
             oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"1318622958\", \
             oauth_token=\"370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb\", \
             oauth_version=\"1.0\""
        );
        let parsed = AuthorizationHeader::parse(&header).unwrap();
        verify("POST", url, &body, &parsed, &creds).unwrap();
    }

    /// The Ads API's warning: `:` in times and `,` in id lists are encoded in the parameter
    /// string, then encoded again in the base string.
    #[test]
    fn colons_and_commas_are_double_encoded() {
        let creds = photos_credentials();
        let raw = "http://127.0.0.1:8080/12/stats/accounts/abc1?entity=LINE_ITEM\
                   &entity_ids=a1,b2&start_time=2024-01-01T00:00:00Z";
        let header = AuthorizationHeader::parse(
            &sign("GET", raw, NO_PARAMS, &creds, "n1", 1_700_000_000).unwrap(),
        )
        .unwrap();
        let base = header.signature_base_string("GET", raw, NO_PARAMS).unwrap();
        assert!(base.contains("entity_ids%3Da1%252Cb2"), "{base}");
        assert!(
            base.contains("start_time%3D2024-01-01T00%253A00%253A00Z"),
            "{base}"
        );
        assert!(base.starts_with("GET&http%3A%2F%2F127.0.0.1%3A8080%2F12%2Fstats"));
        // The same request with the reserved characters encoded in the URL signs the same.
        let encoded = "http://127.0.0.1:8080/12/stats/accounts/abc1?entity=LINE_ITEM\
                       &entity_ids=a1%2Cb2&start_time=2024-01-01T00%3A00%3A00Z";
        verify("GET", encoded, NO_PARAMS, &header, &creds).unwrap();
    }

    #[test]
    fn debug_redacts_secrets() {
        let creds = Credentials::new("ck", "consumer-SECRET", "tok", "token-SECRET");
        let shown = format!("{creds:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("ck") && shown.contains("tok"), "{shown}");
    }

    #[test]
    fn refuses_bad_headers() {
        #[track_caller]
        fn check(header: &str, expect: OAuthError) {
            assert_eq!(AuthorizationHeader::parse(header), Err(expect), "{header}");
        }
        let full = "oauth_consumer_key=\"k\", oauth_nonce=\"n\", oauth_signature=\"s\", \
                    oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"1\"";
        assert!(AuthorizationHeader::parse(&format!("OAuth {full}")).is_ok());
        assert!(AuthorizationHeader::parse(&format!("oauth   {full},")).is_ok());
        check(&format!("Bearer {full}"), OAuthError::NotOAuth);
        check("OAuth", OAuthError::NotOAuth);
        check("OAuth oauth_nonce=n", OAuthError::MalformedHeader);
        check("OAuth oauth_nonce=\"n", OAuthError::MalformedHeader);
        check(
            "OAuth oauth_nonce=\"n\" x=\"y\"",
            OAuthError::MalformedHeader,
        );
        check("OAuth oauth_nonce=\"%FF\"", OAuthError::MalformedHeader);
        check(
            &format!("OAuth {full}, oauth_nonce=\"m\""),
            OAuthError::DuplicateParameter("oauth_nonce".into()),
        );
        check(
            "OAuth oauth_consumer_key=\"k\"",
            OAuthError::MissingParameter("oauth_nonce"),
        );
        check(
            &format!("OAuth {}", full.replace("\"1\"", "\"-1\"")),
            OAuthError::InvalidTimestamp,
        );
    }

    #[test]
    fn refuses_other_methods_versions_and_credentials() {
        let creds = photos_credentials();
        let url = "http://h/p";
        let header = sign("GET", url, NO_PARAMS, &creds, "n", 1).unwrap();
        #[track_caller]
        fn check(header: &str, creds: &Credentials, expect: OAuthError) {
            let parsed = AuthorizationHeader::parse(header).unwrap();
            assert_eq!(
                verify("GET", "http://h/p", NO_PARAMS, &parsed, creds),
                Err(expect)
            );
        }
        check(
            &header.replace("HMAC-SHA1", "PLAINTEXT"),
            &creds,
            OAuthError::UnsupportedSignatureMethod("PLAINTEXT".into()),
        );
        check(
            &header.replace("\"1.0\"", "\"2.0\""),
            &creds,
            OAuthError::UnsupportedVersion("2.0".into()),
        );
        let other = Credentials::new("other", "kd94hf93k423kf44", "nnch734d00sl2jdk", "x");
        check(&header, &other, OAuthError::CredentialsMismatch);
        let wrong_secret = Credentials::new(
            "dpf43f3p2l4k3l03",
            "nope",
            "nnch734d00sl2jdk",
            "pfkkdhi9sl3r4s00",
        );
        check(&header, &wrong_secret, OAuthError::SignatureMismatch);
        let sig_start = header.find("oauth_signature=\"").unwrap() + 17;
        let mut garbled = header;
        garbled.replace_range(sig_start..sig_start + 4, "%25%");
        check(&garbled, &creds, OAuthError::SignatureMismatch);
    }

    fn any_param() -> impl Strategy<Value = (String, String)> {
        (
            prop_oneof!["[a-z_]{1,8}", ".{0,6}"],
            prop_oneof!["[ -~]{0,12}", ".{0,8}"],
        )
    }

    fn build_url(host: &str, path: &str, query: &[(String, String)]) -> String {
        let mut url = format!("http://{host}{path}");
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&percent_encode(k));
            url.push('=');
            url.push_str(&percent_encode(v));
        }
        url
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn sign_then_verify(
            method in prop::sample::select(vec!["GET", "POST", "DELETE", "PUT"]),
            path in "(/[a-z0-9_]{1,8}){1,4}",
            query in prop::collection::vec(any_param(), 0..5),
            body in prop::collection::vec(any_param(), 0..5),
            nonce in "[A-Za-z0-9]{1,32}",
            timestamp in 0u64..4_000_000_000,
            which in 0usize..6,
            tweak in "[a-z]{1,3}",
        ) {
            let creds = Credentials::new("ck", "cs&x", "tok", "ts y");
            let url = build_url("127.0.0.1:8080", &path, &query);
            let header = sign(method, &url, &body, &creds, &nonce, timestamp).unwrap();
            let parsed = AuthorizationHeader::parse(&header).unwrap();
            prop_assert_eq!(parsed.nonce(), nonce.as_str());
            prop_assert_eq!(parsed.timestamp(), timestamp);
            prop_assert_eq!(verify(method, &url, &body, &parsed, &creds), Ok(()));

            // Any change of a parameter, the method or the URL breaks the signature.
            let (mut m, mut q, mut b, mut host, mut p) =
                (method, query, body, "127.0.0.1:8080", path);
            match which {
                0 if !q.is_empty() => q[0].1.push_str(&tweak),
                0 | 1 if !b.is_empty() => b[0].0.push_str(&tweak),
                0 | 1 => b.push((tweak.clone(), String::new())),
                2 => m = if method == "GET" { "POST" } else { "GET" },
                3 => host = "127.0.0.1:8081",
                4 => p.push_str(&tweak),
                _ => q.push((tweak.clone(), "1".into())),
            }
            let url2 = build_url(host, &p, &q);
            prop_assert_eq!(
                verify(m, &url2, &b, &parsed, &creds),
                Err(OAuthError::SignatureMismatch)
            );
        }
    }
}
