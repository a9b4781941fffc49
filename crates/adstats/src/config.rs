//! The config file: where the API commands find their API URL and credentials when neither a
//! flag nor an environment variable gives them.
//!
//! The file is `--config FILE`, else `$ADSTATS_CONFIG`, else
//! `$XDG_CONFIG_HOME/adstats/config.toml` (`~/.config/adstats/config.toml` when
//! `XDG_CONFIG_HOME` is unset); the default file may be absent, a named one must exist. Its
//! format is a small subset of TOML, one `key = value` a line:
//!
//! ```toml
//! # adstats credentials
//! api = "https://ads-api.x.com"
//! consumer_key = "..."
//! consumer_secret = "..."
//! access_token = "..."
//! token_secret = "..."
//! ```
//!
//! Values may be quoted with `"` or `'` (no escapes inside) or bare; `#` starts a comment
//! outside quotes; blank lines and `[section]` headers are ignored. An unknown key is an error,
//! so a typo is not silently ignored. The file's contents are never printed: errors name the
//! file and the line number only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// The keys a config file may set.
pub(crate) const KEYS: [&str; 5] = [
    "api",
    "consumer_key",
    "consumer_secret",
    "access_token",
    "token_secret",
];

/// The values a config file set.
#[derive(Default)]
pub(crate) struct ConfigFile {
    values: BTreeMap<String, String>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The values may be secrets: only the keys are shown.
        f.debug_struct("ConfigFile")
            .field("path", &self.path)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ConfigFile {
    /// The value of `key`, if the file set it.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The file read, if any.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads the config file: `explicit` (from `--config` or `$ADSTATS_CONFIG`) must exist;
    /// the default path is read when it exists.
    pub(crate) fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match default_path() {
                Some(p) => (p, false),
                None => return Ok(Self::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the config file {}", path.display()));
            }
        };
        let values = parse(&text)
            .with_context(|| format!("the config file {} is not valid", path.display()))?;
        warn_if_readable_by_others(&path, &values);
        Ok(Self {
            values,
            path: Some(path),
        })
    }
}

/// `$XDG_CONFIG_HOME/adstats/config.toml`, else `$HOME/.config/adstats/config.toml`.
fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("adstats").join("config.toml"))
}

/// Parses the `key = value` subset of TOML described in the module docs.
fn parse(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {line_no}: expected `key = value`");
        };
        let key = key.trim();
        if !KEYS.contains(&key) {
            bail!(
                "line {line_no}: unknown key {key:?} (expected one of {})",
                KEYS.join(", ")
            );
        }
        let value = unquote(value.trim())
            .with_context(|| format!("line {line_no}: the value of {key} is not closed"))?;
        if values.insert(key.to_owned(), value).is_some() {
            bail!("line {line_no}: {key} is set twice");
        }
    }
    Ok(values)
}

/// `"x"`, `'x'` or a bare value, with a trailing `# comment` dropped.
fn unquote(v: &str) -> Option<String> {
    for q in ['"', '\''] {
        if let Some(rest) = v.strip_prefix(q) {
            let end = rest.find(q)?;
            let after = rest[end + 1..].trim();
            if !(after.is_empty() || after.starts_with('#')) {
                return None;
            }
            return Some(rest[..end].to_owned());
        }
    }
    let bare = v.split_once('#').map_or(v, |(b, _)| b);
    Some(bare.trim().to_owned())
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path, values: &BTreeMap<String, String>) {
    use std::os::unix::fs::PermissionsExt as _;
    let has_secret = values.contains_key("consumer_secret") || values.contains_key("token_secret");
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if has_secret && meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "adstats: warning: {} holds secrets and is readable by others (chmod 600 it)",
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path, _: &BTreeMap<String, String>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_subset() {
        let v = parse(
            "# comment\n[adstats]\napi = \"http://x\" # trailing\nconsumer_key='ck'\n\
             access_token = bare # c\n\n",
        )
        .unwrap();
        assert_eq!(v["api"], "http://x");
        assert_eq!(v["consumer_key"], "ck");
        assert_eq!(v["access_token"], "bare");
    }

    #[test]
    fn refuses_unknown_keys_repeats_and_open_quotes_without_echoing_values() {
        let e = parse("consumer_secret = \"s3cret").unwrap_err();
        assert!(!format!("{e:#}").contains("s3cret"), "{e:#}");
        assert!(format!("{e:#}").contains("line 1"));
        assert!(parse("token = x").is_err());
        assert!(parse("api = a\napi = b").is_err());
        assert!(parse("just words").is_err());
    }
}
