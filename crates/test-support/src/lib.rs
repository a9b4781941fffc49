//! Helpers shared by the workspace's test suites (a dev-dependency only, never published).
//!
//! [`send`] makes one request on a new connection with hyper's low-level HTTP/1.1 client, so a
//! test controls every byte of the method, path, query, `Authorization` header and form body
//! (a typed client would normalise them), and [`Reply`] is the response with its body read
//! whole, with accessors for the API's JSON envelopes.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// A response, its body read whole.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON; panics (failing the test) with the body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value, when present; panics when it is not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The first error code of an error envelope (`errors[0].code`), or `""`.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// `data.id_str` of a job answer; panics with the body when there is none.
    pub fn job_id(&self) -> String {
        self.json()["data"]["id_str"]
            .as_str()
            .unwrap_or_else(|| panic!("no job in {}", self.text()))
            .to_owned()
    }
}

/// Sends one request to `addr` on a new connection: `path_and_query` as given, the
/// `Authorization` header when given, and `body` as a form body when given. Panics when the
/// connection cannot be opened; an HTTP-level failure is the error.
pub async fn send(
    addr: SocketAddr,
    method: Method,
    path_and_query: &str,
    authorization: Option<&str>,
    body: Option<String>,
) -> Result<Reply, hyper::Error> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(HOST, addr.to_string());
    if let Some(a) = authorization {
        req = req.header(AUTHORIZATION, a);
    }
    if body.is_some() {
        req = req.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("a valid request");
    let resp = sender.send_request(req).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}
