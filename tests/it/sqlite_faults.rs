//! SQLite storage faults through the real binary on a real, small filesystem (a tmpfs mounted for
//! the test, so it needs root, as CI has). The database file is on that disk, so these tests run
//! in the SQLite pass of `cargo xtask test` only (`postgres.rs` has PostgreSQL's faults): a full disk answers 503 with Retry-After, an outcome the
//! store could not record is kept and recorded once space returns (never delivered twice), and a
//! server started on a full data directory says why and never announces that it listens.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::common::{ADMIN_KEY, Receiver, Server, eventually, herald_bin, post_event, settled};
use serde_json::json;

/// A tmpfs of `size` mounted at a new directory, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        Self {
            path,
            _parent: parent,
        }
    }

    /// Writes a filler file until the disk is full; returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 << 10];
        while file.write_all(&block).is_ok() {}
        let _ = file.write_all(&block[..1]);
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A gate the receiver's first answer waits on.
#[derive(Default)]
struct Gate(Mutex<bool>, Condvar);

impl Gate {
    fn wait(&self) {
        let mut open = self.0.lock().unwrap();
        while !*open {
            open = self.1.wait(open).unwrap();
        }
    }
    fn open(&self) {
        *self.0.lock().unwrap() = true;
        self.1.notify_all();
    }
}

fn link(version: &str, metadata_bytes: usize) -> serde_json::Value {
    json!({"type": "CREATE_ARTIFACT", "entity": "default", "project": "train", "collection": "c",
           "version": version, "author": "ana", "metadata": {"blob": "b".repeat(metadata_bytes)}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_keeps_outcomes_and_recovers_without_a_restart() {
    let disk = SmallDisk::mount("24m");
    let data = disk.path.join("data");
    let gate = Arc::new(Gate::default());
    let first = gate.clone();
    let receiver = Receiver::start(move |index, _| {
        if index == 0 {
            first.wait();
        }
        (200, vec![], "ok".into())
    })
    .await;
    let server = Server::start_fast(&data);
    let admin = server.admin();
    crate::common::create_integration(
        &admin,
        json!({"name": "hook", "kind": "webhook", "url": receiver.url("/hook")}),
    )
    .await;
    crate::common::create_automation(&admin, json!({"name": "a", "scope": {"type": "entity"}, "event": {"type": "CREATE_ARTIFACT"},
                        "action": {"type": "webhook", "integration": "hook", "payload": {"v": "${artifact_version}"}}})).await;
    // The first delivery reaches the receiver, which holds its answer.
    let held = post_event(&admin, &link("v0", 10)).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;

    // Fill the disk, then post until the store refuses (the WAL may have room left at first).
    let filler = disk.fill();
    let http = reqwest::Client::new();
    let what = "the store to refuse a write";
    let refused = eventually(Duration::from_secs(60), what, async || {
        let response = http
            .post(format!("{}/v1/events", server.url))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(link("vfull", 256 << 10).to_string())
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            202 => Err("202".to_string()),
            _ => Ok(response),
        }
    })
    .await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("storage is unavailable"),
        "{body}"
    );

    // The receiver answers now, while nothing can be written: the outcome must be kept.
    gate.open();
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::remove_file(&filler).unwrap();

    // Once space is back, without a restart: the held execution is recorded as delivered, and
    // was delivered once; new events are taken and delivered.
    let execution = settled(&admin, &held, Duration::from_secs(30)).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    let id = execution["id"].as_str().unwrap();
    let deliveries = receiver
        .requests()
        .iter()
        .filter(|r| r.header("webhook-id") == id)
        .count();
    assert_eq!(deliveries, 1, "delivered exactly once");
    let later = post_event(&admin, &link("v-after", 10)).await;
    assert_eq!(
        settled(&admin, &later, Duration::from_secs(30)).await["status"],
        "succeeded"
    );
    // The fault was logged as a change of state, not once per retry.
    let log = server.log();
    let failures = log.matches("commits fail").count();
    assert!(failures <= 3, "{failures} 'commits fail' lines");
}

#[tokio::test]
async fn a_server_on_a_full_data_directory_says_why_and_never_listens() {
    let disk = SmallDisk::mount("4m");
    let data = disk.path.join("data");
    std::fs::create_dir(&data).unwrap();
    disk.fill();
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(herald_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the server exits by itself")
    .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(
        stderr.contains("cannot be written (is the disk full or read-only?)"),
        "{stderr}"
    );
}
