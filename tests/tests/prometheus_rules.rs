//! The alerting and recording rules in `docs/prometheus/` are valid (`promtool check rules`)
//! and behave as their unit tests say (`promtool test rules`).

use gateway_tests::require_program;
use std::path::PathBuf;
use std::process::Command;

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join("prometheus")
}

fn promtool(args: &[&str]) -> String {
    let program = require_program("promtool", "prometheus");
    let out = Command::new(program)
        .args(args)
        .current_dir(rules_dir())
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
#[ignore = "needs promtool (make test installs it)"]
fn the_shipped_rules_pass_promtool_check_rules() {
    let text = promtool(&["check", "rules", "gateway-rules.yml"]);
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
#[ignore = "needs promtool (make test installs it)"]
fn the_shipped_rules_pass_their_unit_tests() {
    let text = promtool(&["test", "rules", "gateway-rules.test.yml"]);
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn every_alert_the_issue_asks_for_is_shipped() {
    let rules = std::fs::read_to_string(rules_dir().join("gateway-rules.yml")).unwrap();
    let tests = std::fs::read_to_string(rules_dir().join("gateway-rules.test.yml")).unwrap();
    for alert in [
        "GatewayServerDown",
        "GatewayBackendWithoutHealthyServer",
        "GatewayHigh5xxRatio",
        "GatewayBackendQueueGrowing",
        "GatewayCertificateExpiringSoon",
        "GatewayAccessLogDropping",
        "GatewayRateLimitStoreFailing",
    ] {
        assert!(rules.contains(&format!("alert: {alert}")), "{alert}");
        assert!(
            tests.contains(&format!("alertname: {alert}")),
            "{alert} untested"
        );
    }
}
