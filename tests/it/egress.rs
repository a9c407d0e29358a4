//! The egress policy at send time, through the real binary and the real transport: with the
//! default policy every non-public destination is refused before a socket opens, and the test's
//! listener on 127.0.0.1 sees no connection.

use crate::common::{ConnectionProbe, herald, write_json};
use herald::delivery::egress::is_public;
use serde_json::{Value, json};

#[tokio::test]
async fn every_non_public_destination_is_refused_without_a_connection() {
    let probe = ConnectionProbe::start().await;
    let port = probe.addr.port();
    let dir = tempfile::tempdir().unwrap();
    let event = write_json(
        dir.path(),
        "event.json",
        &json!({"type": "RUN_STATE", "entity": "acme", "project": "p", "run_id": "r", "state": "FAILED"}),
    );
    let hosts = [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "169.254.169.254",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "[fd00::1]",
        "[fe80::1]",
        "localhost",
        "foo.localhost",
        "rebind.example",
    ];
    for host in hosts {
        let target = format!("http://{host}:{port}/hook");
        // Guard: only hand the binary addresses the policy classifies as non-public, so that a
        // broken policy fails here instead of sending anywhere.
        if let Ok(url) = url::Url::parse(&target)
            && let Some(ip) = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            }
        {
            assert!(!is_public(ip), "{host} would count as public");
        }
        let output = herald(&[
            "plugin",
            "run",
            "webhook",
            "--event",
            &event,
            "--target",
            &target,
            "--send",
            "--json",
            // The injectable resolver: a DNS name that resolves to loopback.
            "--resolve",
            "rebind.example=127.0.0.1",
        ])
        .await;
        let report: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{host}: {}", String::from_utf8_lossy(&output.stderr)));
        assert_eq!(output.status.code(), Some(1), "{host}: {report}");
        assert_eq!(report["outcome"], "invalid", "{host}: {report}");
        let error = &report["requests"][0]["error"];
        assert_eq!(error["class"], "denied", "{host}: {report}");
        assert!(
            error["message"].as_str().unwrap().contains("refused"),
            "{host}: {error}"
        );
    }
    assert_eq!(
        probe.connections().await,
        0,
        "a refused destination was connected to"
    );

    // The operator's allowance opens exactly what it names.
    let receiver = crate::common::Receiver::ok().await;
    let target = receiver
        .url("/allowed")
        .replace("127.0.0.1", "rebind.example");
    let output = herald(&[
        "plugin",
        "run",
        "webhook",
        "--event",
        &event,
        "--target",
        &target,
        "--send",
        "--resolve",
        "rebind.example=127.0.0.1",
        "--allow-cidr",
        "127.0.0.0/8",
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(receiver.requests().len(), 1);
}
