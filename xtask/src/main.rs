//! `cargo xtask`: the project's single gate.
//!
//! - `cargo xtask ci`: format, clippy, tests (nextest when installed) and doc tests, rustdoc with
//!   warnings denied, the crate-boundary check, snapshot hygiene and tidy checks. Anything that
//!   passes here passes in CI, which only calls this.
//! - `cargo xtask bench`: the benchmarks whose figures BENCHMARKS.md reports.
//! - `cargo xtask boundary`: only the crate-boundary check.
//!
//! It depends on no product crate and on nothing outside std, so it builds in a second.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// Crates that must stay pure, and what their normal dependency tree must never reach.
const BOUNDARIES: &[(&str, &[&str])] = &[(
    "analytics-core",
    &["tokio", "reqwest", "hyper", "hyper-util", "rusqlite"],
)];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench(&args[1..]),
        Some("boundary") => boundary(),
        Some("tidy") => tidy(),
        _ => {
            eprintln!("usage: cargo xtask <ci|bench|boundary|tidy>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, String>;

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

fn run(step: &str, mut cmd: Command) -> Result {
    eprintln!("\n==> {step}: {cmd:?}");
    #[allow(clippy::disallowed_methods)] // step timing in a developer tool, not product logic
    let started = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: could not start: {e}"))?;
    #[allow(clippy::disallowed_methods)] // as above
    let took = started.elapsed();
    eprintln!("<== {step}: {status} in {:.1}s", took.as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("step `{step}` failed ({status})"))
    }
}

fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ci() -> Result {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run("fmt", fmt)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]);
    run("clippy", clippy)?;

    boundary()?;
    tidy()?;

    // insta never writes snapshots under CI=true: a stale or missing snapshot fails the run.
    let mut test = cargo();
    if has_nextest() {
        test.args([
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--no-fail-fast",
        ]);
    } else {
        test.args(["test", "--workspace", "--locked", "--no-fail-fast"]);
    }
    test.env("CI", "true").env("INSTA_UPDATE", "no");
    run("test", test)?;

    let mut doctest = cargo();
    doctest.args(["test", "--doc", "--workspace", "--locked"]);
    doctest.env("CI", "true");
    run("doctest", doctest)?;

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--locked"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    run("doc", doc)?;

    snapshot_hygiene()?;
    eprintln!("\nxtask ci: all steps passed");
    Ok(())
}

/// Fails when a pure crate's normal dependency tree reaches a forbidden crate.
///
/// It lists the tree with `cargo tree` and fails when cargo itself fails, so it cannot pass by
/// accident (a bare `! cargo tree -i tokio` would also pass on an unrelated cargo error).
fn boundary() -> Result {
    for (krate, forbidden) in BOUNDARIES {
        eprintln!(
            "\n==> boundary: {krate} must not depend on {}",
            forbidden.join(", ")
        );
        let out = cargo()
            .args([
                "tree", "--locked", "-p", krate, "-e", "normal", "--prefix", "none", "--format",
                "{p}",
            ])
            .output()
            .map_err(|e| format!("boundary: could not run cargo tree: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "boundary: `cargo tree -p {krate}` failed, so the check cannot pass:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let tree = String::from_utf8_lossy(&out.stdout);
        let names: Vec<&str> = tree
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        if !names.contains(krate) {
            return Err(format!(
                "boundary: `cargo tree -p {krate}` did not list {krate} itself; refusing to pass"
            ));
        }
        let hits: Vec<&&str> = forbidden.iter().filter(|f| names.contains(f)).collect();
        if !hits.is_empty() {
            return Err(format!(
                "boundary: {krate} must stay pure (no IO, no runtime), but its normal dependency \
                 tree reaches {hits:?}. Move the code that needs it to analytics-http, \
                 analytics-jobs or a higher crate (see ARCHITECTURE.md). \
                 Inspect with `cargo tree -p {krate} -e normal -i <crate>`."
            ));
        }
        eprintln!("<== boundary: {krate} ok ({} packages)", names.len());
    }
    Ok(())
}

/// Project rules no compiler checks: module docs, no stubs, no ignored tests.
fn tidy() -> Result {
    eprintln!("\n==> tidy");
    let root = project_root();
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "tests"] {
        collect_rs(&root.join(dir), &mut files);
    }
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        let Ok(text) = std::fs::read_to_string(file) else {
            problems.push(format!("{rel}: unreadable"));
            continue;
        };
        let in_src = rel.contains("/src/");
        if in_src && !text.trim_start().starts_with("//!") {
            problems.push(format!("{rel}: a module starts with `//!` docs"));
        }
        // The patterns are split with `concat!` so that this file does not contain them itself.
        for (needle, why) in [
            (concat!("todo", "!("), "a stub is not done"),
            (concat!("unimplemented", "!("), "a stub is not done"),
            (concat!("#[", "ignore"), "an ignored test checks nothing"),
            (
                concat!("#[", "should_panic"),
                "assert on a typed error instead",
            ),
        ] {
            if text.contains(needle) {
                problems.push(format!("{rel}: contains `{needle}`: {why}"));
            }
        }
    }
    if problems.is_empty() {
        eprintln!("<== tidy: {} files ok", files.len());
        Ok(())
    } else {
        Err(format!("tidy:\n  {}", problems.join("\n  ")))
    }
}

fn snapshot_hygiene() -> Result {
    let root = project_root();
    let mut files = Vec::new();
    for dir in ["crates", "tests"] {
        collect_files(&root.join(dir), &mut files);
    }
    let pending: Vec<String> = files
        .iter()
        .filter(|f| {
            let n = f.to_string_lossy();
            n.ends_with(".snap.new") || n.ends_with(".pending-snap")
        })
        .map(|f| f.display().to_string())
        .collect();
    if pending.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "snapshots: pending snapshot files (review and accept or delete them):\n  {}",
            pending.join("\n  ")
        ))
    }
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut all = Vec::new();
    collect_files(dir, &mut all);
    out.extend(
        all.into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "rs")),
    );
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn bench(extra: &[String]) -> Result {
    let mut cmd = cargo();
    cmd.args(["bench", "--workspace", "--locked"]);
    if !extra.is_empty() {
        cmd.arg("--").args(extra);
    }
    run("bench", cmd)
}
