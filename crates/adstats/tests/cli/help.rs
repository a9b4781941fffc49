//! `--help` of every API command, frozen.

use crate::support::run;

#[track_caller]
fn check_help(name: &str, args: &[&str]) {
    let out = run(args);
    assert!(out.status.success(), "{args:?}");
    insta::assert_snapshot!(name, String::from_utf8_lossy(&out.stdout));
}

#[test]
fn every_api_command_has_help() {
    check_help("accounts_help", &["accounts", "--help"]);
    check_help("entities_help", &["entities", "--help"]);
    check_help("stats_help", &["stats", "--help"]);
    check_help("active_entities_help", &["active-entities", "--help"]);
    check_help("jobs_help", &["jobs", "--help"]);
    check_help("jobs_create_help", &["jobs", "create", "--help"]);
    check_help("jobs_list_help", &["jobs", "list", "--help"]);
    check_help("jobs_cancel_help", &["jobs", "cancel", "--help"]);
    check_help("jobs_download_help", &["jobs", "download", "--help"]);
}
