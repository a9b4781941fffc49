//! Credentials from flags, environment variables and the config file, against an
//! `adstats serve` that accepts only its own set; secrets never printed.

use std::io::Write as _;
use std::process::Output;

use crate::support::{Served, adstats, json, serve_with, stderr, stdout};

const SECRETS: [&str; 2] = ["consumer-s3cret", "token-s3cret"];

fn served() -> Served {
    serve_with(&[
        "--consumer-key",
        "ck-test",
        "--consumer-secret",
        SECRETS[0],
        "--access-token",
        "at-test",
        "--token-secret",
        SECRETS[1],
    ])
}

#[track_caller]
fn no_secret(out: &Output) {
    let all = format!("{}{}", stdout(out), stderr(out));
    for s in SECRETS {
        assert!(!all.contains(s), "a secret was printed: {all}");
    }
}

#[track_caller]
fn lists_three_accounts(out: &Output) {
    assert!(out.status.success(), "{}", stderr(out));
    assert!(
        out.stderr.is_empty(),
        "nothing on stderr with --api: {}",
        stderr(out)
    );
    assert_eq!(json(&stdout(out)).as_array().map(Vec::len), Some(3));
    no_secret(out);
}

#[test]
fn flags_environment_and_config_file() {
    let served = served();
    let api = served.base_url.as_str();

    // Flags.
    let out = adstats()
        .args(["accounts", "--api", api, "--consumer-key", "ck-test"])
        .args(["--consumer-secret", SECRETS[0], "--access-token", "at-test"])
        .args(["--token-secret", SECRETS[1]])
        .output()
        .expect("runs");
    lists_three_accounts(&out);

    // Environment variables (the API too).
    let out = adstats()
        .arg("accounts")
        .env("ADSTATS_API", api)
        .env("ADSTATS_CONSUMER_KEY", "ck-test")
        .env("ADSTATS_CONSUMER_SECRET", SECRETS[0])
        .env("ADSTATS_ACCESS_TOKEN", "at-test")
        .env("ADSTATS_TOKEN_SECRET", SECRETS[1])
        .output()
        .expect("runs");
    lists_three_accounts(&out);

    // A config file, with a flag taking precedence over it.
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("config.toml");
    let mut f = std::fs::File::create(&path).expect("creates");
    writeln!(
        f,
        "# adstats\napi = \"{api}\"\nconsumer_key = \"ck-test\"\nconsumer_secret = \"{}\"\n\
         access_token = 'wrong-token'\ntoken_secret = {}",
        SECRETS[0], SECRETS[1]
    )
    .expect("writes");
    drop(f);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let config = path.to_str().expect("utf-8");
    let out = adstats()
        .args(["accounts", "--config", config, "--access-token", "at-test"])
        .output()
        .expect("runs");
    lists_three_accounts(&out);

    // The default config file, under XDG_CONFIG_HOME.
    std::fs::create_dir_all(dir.path().join("adstats")).expect("mkdir");
    std::fs::copy(&path, dir.path().join("adstats/config.toml")).expect("copies");
    let out = adstats()
        .args(["accounts", "--access-token", "at-test"])
        .env("XDG_CONFIG_HOME", dir.path())
        .output()
        .expect("runs");
    lists_three_accounts(&out);

    // The config file's wrong token: 401, with the API's error and a hint, and no secret.
    let out = adstats()
        .args(["accounts", "--config", config])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("the API answered 401 Unauthorized"), "{err}");
    assert!(err.contains("UNAUTHORIZED_ACCESS"), "{err}");
    assert!(err.contains("hint: check the credentials"), "{err}");
    no_secret(&out);

    // Missing credentials with an API: say where they come from.
    let out = adstats()
        .args(["accounts", "--api", api, "--consumer-key", "ck-test"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("adstats: error: no consumer secret, access token, token secret for http://127.0.0.1:PORT: give --consumer-key"),
        "{err}"
    );

    // A bad URL in the config file is named as the config file's.
    let url = dir.path().join("url.toml");
    std::fs::write(
        &url,
        "api = \"not-a-url\"\nconsumer_key = \"k\"\nconsumer_secret = \"s\"\n\
         access_token = \"t\"\ntoken_secret = \"u\"\n",
    )
    .expect("writes");
    let out = adstats()
        .args(["accounts", "--config", url.to_str().expect("utf-8")])
        .env_remove("ADSTATS_API")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "api in {} \"not-a-url\" is not usable",
            url.display()
        )),
        "{err}"
    );

    // A config file with a typo names the line, not the value.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!("consumer_secret = \"{}\ntoken = x\n", SECRETS[0]),
    )
    .expect("writes");
    let out = adstats()
        .args(["accounts", "--config", bad.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("is not valid: line 1"), "{err}");
    no_secret(&out);
}

#[test]
fn the_embedded_emulator_accepts_the_credentials_given() {
    let out = adstats()
        .args(["accounts", "--format", "csv"])
        .env("ADSTATS_CONSUMER_KEY", "mine")
        .env("ADSTATS_CONSUMER_SECRET", SECRETS[0])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 4);
    no_secret(&out);
}
