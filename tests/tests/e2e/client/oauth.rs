//! The client's signing: RFC 5849 base-string vectors and X's signing guide through
//! `Client::authorization` (the function every request is signed with), and the emulator's
//! verifier accepting the client's requests with `:` and `,` in their parameters.

use analytics_core::chrono::DateTime;
use analytics_core::request::RawParams;
use analytics_http::client::Client;
use analytics_http::oauth::{self, AuthorizationHeader, Credentials};
use analytics_http::server::RouteKind;
use analytics_http::{ManualClock, SharedClock};

use super::support::Harness;

/// A client signing as `credentials` at Unix time `timestamp` (it sends nothing here).
fn signer(base: &str, credentials: Credentials, timestamp: i64) -> Client {
    let clock = ManualClock::new(DateTime::from_timestamp(timestamp, 0).unwrap());
    Client::builder(base)
        .credentials(credentials)
        .clock(SharedClock::new(clock))
        .build()
        .unwrap()
}

/// RFC 5849 §3.4.1.1: the example request's signature base string. The client also sends
/// `oauth_version="1.0"` (optional in the RFC, sent by X's own examples), which sorts last: the
/// RFC's base string with `&oauth_version=1.0` appended, encoded.
#[test]
fn rfc5849_section_3_4_1_1_base_string() {
    let client = signer(
        "http://example.com",
        Credentials::new(
            "9djdj82h48djs9d2",
            "j49sk3j29djd",
            "kkk9d7dh3k39sjv7",
            "dh893hdasih9",
        ),
        137_131_201,
    );
    let url = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b";
    let body = RawParams::from_query("c2&a3=2+q");
    let form: Vec<(&str, &str)> = body
        .pairs()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let header = client
        .authorization("POST", url, &form, "7d8f3e4a")
        .unwrap();
    let parsed = AuthorizationHeader::parse(&header).unwrap();
    assert_eq!(parsed.timestamp(), 137_131_201);
    assert_eq!(parsed.nonce(), "7d8f3e4a");
    assert_eq!(
        parsed.signature_base_string("POST", url, &form).unwrap(),
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q\
         %26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_\
         key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m\
         ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk\
         9d7dh3k39sjv7%26oauth_version%3D1.0"
    );
}

/// RFC 5849 §1.2: the photos request's base string (with `oauth_version`), and the signature
/// verifies with the RFC's secrets.
#[test]
fn rfc5849_section_1_2_photos() {
    let creds = Credentials::new(
        "dpf43f3p2l4k3l03",
        "kd94hf93k423kf44",
        "nnch734d00sl2jdk",
        "pfkkdhi9sl3r4s00",
    );
    let client = signer("http://photos.example.net", creds.clone(), 137_131_202);
    let url = "http://photos.example.net/photos?file=vacation.jpg&size=original";
    let header = client.authorization("GET", url, &[], "chapoH").unwrap();
    let parsed = AuthorizationHeader::parse(&header).unwrap();
    let none: &[(&str, &str)] = &[];
    assert_eq!(
        parsed.signature_base_string("GET", url, none).unwrap(),
        "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26\
         oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26\
         oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131202%26\
         oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal"
    );
    oauth::verify("GET", url, none, &parsed, &creds).unwrap();
}

/// X's "Creating a signature" guide, whose example sends `oauth_version="1.0"`: the exact header.
#[test]
fn x_signing_guide_exact_header() {
    let client = signer(
        "https://api.twitter.com",
        Credentials::new(
            "xvz1evFS4wEEPTGEFPHBog",
            "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
            "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
            "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
        ),
        1_318_622_958,
    );
    let header = client
        .authorization(
            "POST",
            "https://api.twitter.com/1.1/statuses/update.json?include_entities=true",
            &[(
                "status",
                "Hello Ladies + Gentlemen, a signed OAuth request!",
            )],
            "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
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
}

/// The emulator's verifier accepts what the client signs: times with `:` and a comma list of
/// 20 ids, on both API versions.
#[tokio::test]
async fn the_emulator_verifies_the_clients_signatures() {
    let h = Harness::start().await;
    let acc = h.account(0);
    let all = h.emulator.dataset().accounts()[0].line_items.len();
    let request = h.sync_request(all.min(20));
    for version in [12, 11] {
        let client = h.builder().api_version(version).build().unwrap();
        let stats = client.stats(&acc, &request).await.unwrap();
        assert_eq!(stats.data.len(), all.min(20));
    }
    assert_eq!(h.counts().status(401), 0);
    assert_eq!(h.counts().route(RouteKind::SyncStats), 2);
}
