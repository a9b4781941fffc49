//! Integration tests of the server: a real server on 127.0.0.1:0 over an in-test backend,
//! with a manual clock and a signed client (one test binary, one module per area).

mod auth;
mod bounds;
mod faults;
mod limits;
mod routes;
mod support;
mod validation;
