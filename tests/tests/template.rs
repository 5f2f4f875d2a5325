//! template.yaml checked offline: cfn-lint, `sam validate --lint` (pinned PyPI packages in the
//! project venv), and our own checks of what those let through (runtime names, schedule
//! expressions, unknown references, binaries, '*' resources, queue visibility).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::Command;

use marketbill_harness::moto::{venv, workspace_root};

fn root() -> PathBuf {
    workspace_root().canonicalize().unwrap()
}

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(venv().unwrap().join("bin").join(program))
        .args(args)
        .current_dir(root())
        .env("AWS_REGION", "eu-west-3")
        .env("AWS_DEFAULT_REGION", "eu-west-3")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn cfn_lint_passes() {
    let (ok, out) = run("cfn-lint", &["template.yaml"]);
    assert!(ok, "{out}");
}

#[test]
fn sam_validate_lint_passes() {
    let (ok, out) = run("sam", &["validate", "--lint", "--template-file", "template.yaml"]);
    assert!(ok, "{out}");
}

#[test]
fn our_own_template_checks_pass() {
    let root = root();
    let (ok, out) = run("python", &["tools/sam/check_template.py", "template.yaml", root.to_str().unwrap()]);
    assert!(ok, "{out}");
}

#[test]
fn the_functions_get_every_setting_they_read() {
    let template = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    for var in [
        "TABLE_NAME",
        "BUCKET_NAME",
        "QUEUE_URL",
        "KMS_KEY_ID",
        "SENDER_ADDRESS",
        "BUYER_EMAIL_KEY",
        "OCTOPIA_API_BASE",
        "OCTOPIA_AUTH_BASE",
        "PUBLIC_URL",
        "COGNITO_ISSUER",
        "COGNITO_CLIENT_ID",
        "COGNITO_LOGIN_URL",
    ] {
        assert!(template.contains(&format!("{var}:")), "{var} is not set by the template");
    }
}
