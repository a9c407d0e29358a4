//! Launch you can trust, through the real binary and real `herald agent` processes: only an agent
//! key of a queue claims and reports on its items (and only with its claim's lease token), a job
//! finds no key in its agent's `/proc` files, its run directory is private, its environment is
//! what the agent passes on purpose, and a server restart during a job loses no report.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    ADMIN_KEY, Api, FAST_DELIVERY_CONFIG, Server, agent_key, created, eventually, expect_status,
    wait_for_item as wait_for,
};

async fn setup(admin: &Api, script: &str, out: &Path) {
    for queue in ["gpu", "cpu"] {
        expect_status(
            &admin
                .post("/v1/entities/default/queues", &json!({"name": queue}))
                .await,
            201,
        );
    }
    expect_status(
        &admin
            .put(
                "/v1/entities/default/jobs/probe",
                &json!({"command": ["sh", "-c", script], "env": {"OUT": out.display().to_string()}}),
            )
            .await,
        201,
    );
}

async fn enqueue(api: &Api) -> String {
    created(
        api,
        "/v1/entities/default/queues/gpu/items",
        &json!({"job": "probe", "project": "p"}),
        "id",
    )
    .await
}

/// A `herald agent` process, killed when dropped.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn only_an_agent_key_of_the_queue_claims_and_only_its_claim_reports() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_ingest_only(&dir.path().join("data"));
    let admin = server.admin();
    setup(&admin, "true", dir.path()).await;
    let member = crate::common::member(&admin, &server).await;
    let gpu = server.client(&agent_key(&admin, &["gpu"]).await);
    let cpu = server.client(&agent_key(&admin, &["cpu"]).await);
    let id = enqueue(&member).await;

    // Keys are bound to queues that exist (a queue that does not is not found), and only agent
    // keys to any.
    for (body, field, status) in [
        (json!({"role": "agent"}), "queues", 400),
        (json!({"role": "member", "queues": ["gpu"]}), "queues", 400),
        (
            json!({"role": "agent", "queues": ["nope"]}),
            "queues[0]",
            422,
        ),
    ] {
        let refused = admin.post("/v1/entities/default/keys", &body).await;
        assert_eq!(
            expect_status(&refused, status)["error"]["field"],
            field,
            "{body}"
        );
    }

    let claim = "/v1/entities/default/queues/gpu/claim";
    for caller in [&admin, &member, &cpu] {
        expect_status(
            &caller.post(claim, &json!({"agent": "impostor"})).await,
            403,
        );
    }
    // A claim whose answer is lost, sent again under the same key: the same item, new tokens.
    let body = json!({"agent": "gpu-box"});
    let key = [("idempotency-key", "claim-1")];
    let lost = gpu.send("POST", claim, Some(&body), &key).await;
    let claimed = gpu.send("POST", claim, Some(&body), &key).await;
    let (lost, claimed) = (
        expect_status(&lost, 200),
        expect_status(&claimed, 200).clone(),
    );
    assert_eq!(
        (&lost["item"]["id"], &claimed["item"]["id"]),
        (&json!(id), &json!(id))
    );
    assert_eq!(claimed["item"]["attempts"], 1, "claimed once");
    assert_ne!(lost["lease_token"], claimed["lease_token"]);
    let stale = json!({"lease_token": lost["lease_token"], "started": true});
    let beat = format!("/v1/entities/default/items/{id}/heartbeat");
    expect_status(&gpu.post(&beat, &stale).await, 409);
    let token = claimed["lease_token"].as_str().unwrap().to_string();
    assert_ne!(token, claimed["run_token"].as_str().unwrap());

    // The agent list shows who claims, from which queues, and what it holds.
    let listed = expect_status(&member.get("/v1/entities/default/agents").await, 200).clone();
    let agents = listed["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1, "{listed}");
    assert_eq!(
        (
            &agents[0]["name"],
            &agents[0]["queues"],
            &agents[0]["slots_in_use"]
        ),
        (&json!("gpu-box"), &json!(["gpu"]), &json!(1)),
        "{listed}"
    );
    assert!(
        agents[0]["last_seen_at"]
            .as_str()
            .unwrap()
            .starts_with("20")
    );

    let finish = format!("/v1/entities/default/items/{id}/finish");
    let heartbeat = format!("/v1/entities/default/items/{id}/heartbeat");
    let output = format!("/v1/entities/default/items/{id}/output");
    let forged = json!({"lease_token": token, "exit_code": 0});
    let line = json!({"lease_token": token, "offset": 0, "text": "forged line\n"});
    for caller in [&admin, &member, &cpu] {
        expect_status(&caller.post(&finish, &forged).await, 403);
        expect_status(
            &caller
                .post(&heartbeat, &json!({"lease_token": token}))
                .await,
            403,
        );
        expect_status(&caller.post(&output, &line).await, 403);
    }
    let wrong_line = json!({"lease_token": "0".repeat(64), "offset": 0, "text": "forged\n"});
    expect_status(&gpu.post(&output, &wrong_line).await, 409);
    // The claim's holder appends; a retry of the same chunk is taken once.
    for _ in 0..2 {
        let appended = expect_status(&gpu.post(&output, &line).await, 200).clone();
        assert_eq!(appended["output_bytes"], 12);
    }
    // The right key without the claim's token: refused, and the item is untouched.
    expect_status(&gpu.post(&finish, &json!({"exit_code": 0})).await, 400);
    let wrong = json!({"lease_token": "0".repeat(64), "exit_code": 0});
    expect_status(&gpu.post(&finish, &wrong).await, 409);
    expect_status(
        &gpu.post(&heartbeat, &json!({"lease_token": "x"})).await,
        409,
    );
    assert_eq!(
        member
            .get(&format!("/v1/entities/default/items/{id}"))
            .await
            .1["status"],
        "claimed"
    );

    // An agent key does nothing else in the API, but may ask who it is.
    for path in [
        "/v1/automations",
        "/v1/entities/default/queues/gpu/items",
        "/v1/entities/default/integrations",
        "/v1/executions",
    ] {
        expect_status(&gpu.get(path).await, 403);
    }
    let event = json!({"type": "RUN_STATE", "entity": "default", "project": "p", "run_id": "r", "state": "FINISHED"});
    expect_status(&gpu.post("/v1/events", &event).await, 403);
    let me = expect_status(&gpu.get("/v1/me").await, 200).clone();
    assert_eq!(me["role"], "agent");

    let done = expect_status(&gpu.post(&finish, &forged).await, 200).clone();
    assert_eq!(done["status"], "finished");
    assert_eq!(done["output"], "forged line\n");
    // Once it ended, nothing more is appended.
    expect_status(&gpu.post(&output, &line).await, 409);
    let listed = member.get("/v1/entities/default/agents").await.1;
    assert_eq!(listed["agents"][0]["slots_in_use"], 0, "{listed}");
    expect_status(&gpu.get("/v1/entities/default/agents").await, 403);
    // The claim ended with its report: the same report again (its answer lost) is answered as
    // recorded and changes nothing; any other report with that token is refused.
    let again = expect_status(&gpu.post(&finish, &forged).await, 200).clone();
    assert_eq!(
        (&again["status"], &again["output"]),
        (&done["status"], &done["output"])
    );
    assert_eq!(again["updated_at"], done["updated_at"]);
    let (_, reported) = admin.get("/v1/events?type=RUN_STATE").await;
    let finished: Vec<&Value> = reported["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["state"] == "FINISHED")
        .collect();
    assert_eq!(
        finished.len(),
        1,
        "the run reported finished once: {reported}"
    );
    let mut other = forged.clone();
    other["exit_code"] = 3.into();
    expect_status(&gpu.post(&finish, &other).await, 409);
}

/// The `herald` binary copied where any user may run it (the checkout may not be).
fn public_herald(dir: &Path) -> PathBuf {
    let copy = dir.join("herald");
    std::fs::copy(crate::common::herald_bin(), &copy).unwrap();
    set_mode(dir, 0o755);
    set_mode(&copy, 0o755);
    copy
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn is_root() -> bool {
    // SAFETY: geteuid reads this process's credentials.
    unsafe { libc::geteuid() == 0 }
}

/// Reads what a job can of its agent (`$PPID`): environment, arguments, memory maps, and the
/// stack (where the environment's strings live); and its own environment the same way, to show
/// the reads work.
const PROBE: &str = r#"P=$PPID
dump() { grep -E '\[stack\]' /proc/$1/maps | while read range rest; do s=${range%-*}; e=${range#*-}; dd if=/proc/$1/mem bs=4096 skip=$((0x$s/4096)) count=$(((0x$e-0x$s)/4096)) 2>&1; done | tr -c '[:print:]\n' '.'; }
{ echo "== environ"; tr '\0' '\n' < /proc/$P/environ; echo "== cmdline"; tr '\0' ' ' < /proc/$P/cmdline; echo; echo "== mem"; dump $P; echo "== self"; tr '\0' '\n' < /proc/$$/environ; } > "$OUT/$HERALD_RUN_ID.proc" 2>&1
stat -c '%a' "$(dirname "$HERALD_RUN_CONFIG")" "$HERALD_RUN_CONFIG" > "$OUT/$HERALD_RUN_ID.modes"
env > "$OUT/$HERALD_RUN_ID.env"
head -c 200000 /dev/zero | tr '\0' 'x'"#;

#[tokio::test]
async fn a_job_finds_no_key_in_its_agent_and_gets_only_what_is_passed_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    set_mode(&out, 0o777);
    let server = Server::start_ingest_only(&dir.path().join("data"));
    let admin = server.admin();
    setup(&admin, PROBE, &out).await;
    let key = agent_key(&admin, &["gpu"]).await;
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let herald = public_herald(&bin_dir);

    // `--key` on the command line is refused with the reason.
    let refused = Command::new(&herald)
        .args(["agent", "--queue", "gpu", "--key", &key])
        .env("HERALD_URL", &server.url)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("does not take --key"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The agent as an ordinary user, its key in its environment, the job as that same user (as
    // root, the agent is started as `nobody`); then, as root, with --run-as.
    let mut modes: Vec<(&str, Vec<String>)> = vec![("same-user", vec![])];
    if is_root() {
        modes.push(("run-as", vec!["--run-as".into(), "nobody".into()]));
    }
    for (mode, extra) in modes {
        let id = enqueue(&admin).await;
        let mut command = if is_root() && mode == "same-user" {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .arg(&herald);
            c
        } else {
            Command::new(&herald)
        };
        command
            .args(["agent", "--queue", "gpu", "--poll", "50ms", "--lease", "5s"])
            .args(["--pass-env", "PATH,FOO"])
            .args(&extra)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", "/agent-home-not-for-jobs")
            .env("FOO", "passed-on")
            .env("HERALD_URL", &server.url)
            .env("HERALD_KEY", &key)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let agent = Agent(command.spawn().unwrap());
        let item = wait_for(
            &admin,
            &id,
            &["finished", "failed"],
            Duration::from_secs(30),
        )
        .await;
        drop(agent);
        assert_eq!(item["status"], "finished", "{mode}: {item}");

        let proc = std::fs::read_to_string(out.join(format!("{id}.proc"))).unwrap();
        assert!(
            !proc.contains(&key),
            "{mode}: the job read the agent's key:\n{proc}"
        );
        assert!(!proc.contains("HERALD_KEY"), "{mode}: {proc}");
        // Not vacuous: the same reads of the job's own process work.
        let own = proc.split("== self").nth(1).unwrap_or_default();
        assert!(
            own.contains("HERALD_RUN_ID="),
            "{mode}: reading memory works: {proc}"
        );

        let modes = std::fs::read_to_string(out.join(format!("{id}.modes"))).unwrap();
        assert_eq!(
            modes.split_whitespace().collect::<Vec<_>>(),
            ["700", "600"],
            "{mode}"
        );

        let env = std::fs::read_to_string(out.join(format!("{id}.env"))).unwrap();
        assert!(env.contains("FOO=passed-on"), "{mode}: {env}");
        assert!(
            !env.contains("agent-home-not-for-jobs"),
            "{mode}: HOME was not passed: {env}"
        );
        if mode == "run-as" {
            assert!(
                env.contains("HOME=/nonexistent") || env.contains("HOME=/"),
                "{env}"
            );
        }

        // 200,000 bytes of output: the last 64 KiB are kept, and the item says how much was cut.
        let output = item["output"].as_str().unwrap();
        assert!(output.len() <= 64 << 10, "{}", output.len());
        let (total, cut) = (
            item["output_bytes"].as_u64().unwrap(),
            item["output_cut_bytes"].as_u64().unwrap(),
        );
        assert!(total >= 200_000, "{mode}: {item}");
        assert_eq!(cut, total - output.len() as u64, "{mode}");
    }
}

/// Writes a line with its run token, waits for the test's go, writes 300,000 bytes and a last
/// line, and fails.
const CHATTY: &str = r#"echo "epoch 1 token=$HERALD_RUN_TOKEN"
while [ ! -e "$OUT/go" ]; do sleep 0.05; done
head -c 300000 /dev/zero | tr '\0' 'y'; echo
echo "epoch 2"; exit 3"#;

#[tokio::test]
async fn output_appears_while_the_job_runs_and_the_cut_is_stated() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let server = Server::start_ingest_only(&dir.path().join("data"));
    let admin = server.admin();
    setup(&admin, CHATTY, &out).await;
    let member = crate::common::member(&admin, &server).await;
    let key = agent_key(&admin, &["gpu"]).await;
    let id = enqueue(&member).await;
    let _agent = Agent(
        Command::new(crate::common::herald_bin())
            .args([
                "agent", "--queue", "gpu", "--poll", "50ms", "--lease", "10s",
            ])
            .env("HERALD_URL", &server.url)
            .env("HERALD_KEY", &key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // The first line reaches a member while the job waits, its run token redacted.
    let live = eventually(
        Duration::from_secs(20),
        "output while it runs",
        async || {
            let read = member
                .get(&format!("/v1/entities/default/items/{id}/output"))
                .await;
            let read = expect_status(&read, 200).clone();
            if read["text"].as_str().unwrap().contains("epoch 1") {
                Ok(read)
            } else {
                Err(read.to_string())
            }
        },
    )
    .await;
    assert_eq!(live["status"], "running", "{live}");
    assert_eq!(live["text"], "epoch 1 token=[REDACTED]\n", "{live}");
    assert_eq!(live["output_bytes"], live["text"].as_str().unwrap().len());

    // `herald queues logs -f` follows it from there to the end.
    let (printed, said) = (dir.path().join("logs.out"), dir.path().join("logs.err"));
    let mut follower = Command::new(crate::common::herald_bin())
        .args(["queues", "logs", &id, "-f"])
        .env("HERALD_URL", &server.url)
        .env(
            "HERALD_KEY",
            crate::common::member_key(&admin, "logs").await,
        )
        .stdout(std::fs::File::create(&printed).unwrap())
        .stderr(std::fs::File::create(&said).unwrap())
        .spawn()
        .unwrap();
    // The job goes on once the follower has printed what there is so far.
    eventually(Duration::from_secs(20), "logs -f to print", async || {
        let printed = std::fs::read_to_string(&printed).unwrap();
        if printed.contains("epoch 1") {
            Ok(())
        } else {
            Err(printed)
        }
    })
    .await;
    std::fs::write(out.join("go"), "").unwrap();
    let item = wait_for(&member, &id, &["failed"], Duration::from_secs(30)).await;
    let followed = tokio::task::spawn_blocking(move || follower.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(followed.success());
    let (stdout, stderr) = (
        std::fs::read_to_string(&printed).unwrap(),
        std::fs::read_to_string(&said).unwrap(),
    );
    assert!(
        stdout.starts_with("epoch 1 token=[REDACTED]\n") && stdout.ends_with("yyy\nepoch 2\n"),
        "{}…{}",
        &stdout[..100.min(stdout.len())],
        &stdout[stdout.len().saturating_sub(100)..]
    );
    assert!(
        stderr.contains("bytes of output were cut here"),
        "the cut is stated where it is: {stderr}"
    );
    assert!(stdout.len() < 200_000, "{}", stdout.len());

    // The item keeps the last 64 KiB and says how much came in all.
    assert_eq!(item["exit_code"], 3);
    let output = item["output"].as_str().unwrap();
    assert!(output.ends_with("epoch 2\n") && output.len() <= 64 << 10);
    let total = item["output_bytes"].as_u64().unwrap();
    assert!(total > 300_000, "{item}");
    assert_eq!(
        item["output_cut_bytes"].as_u64().unwrap(),
        total - output.len() as u64
    );
    // A read from the start answers from the first byte kept.
    let read = member
        .get(&format!("/v1/entities/default/items/{id}/output?offset=0"))
        .await;
    let read = expect_status(&read, 200);
    assert_eq!(read["start"], item["output_cut_bytes"]);
}

#[tokio::test]
async fn a_server_restart_during_a_job_loses_no_finish_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let env = [("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)];
    let server = Server::start_with(&dir.path().join("data"), FAST_DELIVERY_CONFIG, &env, &[]);
    let admin = server.admin();
    setup(
        &admin,
        r#"echo run >> "$OUT/runs"; sleep 3; echo done"#,
        &out,
    )
    .await;
    let finished_runs = crate::common::create_automation(
        &admin,
        json!({"name": "finished", "scope": {"type": "project", "project": "p"},
               "event": {"type": "RUN_STATE", "filter": {"state": "FINISHED"}}, "action": {"type": "no-op"}}),
    )
    .await;
    let key = agent_key(&admin, &["gpu"]).await;
    let id = enqueue(&admin).await;
    let agent = Agent(
        Command::new(crate::common::herald_bin())
            .args([
                "agent", "--queue", "gpu", "--poll", "50ms", "--lease", "10s",
            ])
            .env("HERALD_URL", &server.url)
            .env("HERALD_KEY", &key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(&admin, &id, &["running"], Duration::from_secs(30)).await;
    // The server goes down while the job runs and comes back (same port, same data) after the
    // job ended: the agent's finish report meets a closed port at first.
    let server = tokio::task::spawn_blocking(move || {
        server.restart(FAST_DELIVERY_CONFIG, &env, Duration::from_millis(3500))
    })
    .await
    .unwrap();
    let admin = server.admin();
    let item = wait_for(
        &admin,
        &id,
        &["finished", "failed"],
        Duration::from_secs(20),
    )
    .await;
    drop(agent);
    assert_eq!(item["status"], "finished", "{item}");
    assert_eq!(
        item["attempts"], 1,
        "the report was retried, not the run: {item}"
    );
    assert!(item["output"].as_str().unwrap().contains("done"), "{item}");
    let runs = std::fs::read_to_string(out.join("runs")).unwrap();
    assert_eq!(runs.lines().count(), 1, "the job ran once");
    eventually(
        Duration::from_secs(10),
        "the RUN_STATE FINISHED execution",
        async || {
            let (_, page) = admin
                .get(&format!("/v1/automations/{finished_runs}/executions"))
                .await;
            if page["executions"].as_array().is_some_and(|e| e.len() == 1) {
                Ok(())
            } else {
                Err(page.to_string())
            }
        },
    )
    .await;
}
