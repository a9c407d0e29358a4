//! Answers the network loses: a claim that reached the server but whose answer never reached the
//! agent is sent again under the same `Idempotency-Key`, and the agent runs the item it took,
//! once, on its first attempt, instead of leaving it stranded until its lease lapses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A TCP relay on 127.0.0.1 to `target` that relays everything, except the answer to the first
/// request whose bytes hold `marker`: that request reaches the server, and its connection is cut
/// as the answer comes back. Answers its address and whether the cut has happened.
async fn lossy_relay(target: String, marker: &'static [u8]) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let cut = Arc::new(AtomicBool::new(false));
    let done = cut.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&target).await.unwrap();
            let (mut client_in, mut client_out) = client.into_split();
            let (mut server_in, mut server_out) = server.into_split();
            // This connection's answer is the one to lose.
            let losing = Arc::new(AtomicBool::new(false));
            let (cut, marked) = (done.clone(), losing.clone());
            tokio::spawn(async move {
                let mut buffer = vec![0; 64 << 10];
                while let Ok(n @ 1..) = client_in.read(&mut buffer).await {
                    let chunk = &buffer[..n];
                    if chunk.windows(marker.len()).any(|w| w == marker)
                        && !cut.swap(true, Ordering::SeqCst)
                    {
                        marked.store(true, Ordering::SeqCst);
                    }
                    if server_out.write_all(chunk).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buffer = vec![0; 64 << 10];
                while let Ok(n @ 1..) = server_in.read(&mut buffer).await {
                    if losing.load(Ordering::SeqCst) {
                        // Both halves dropped: the client sees its connection closed.
                        return;
                    }
                    if client_out.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (format!("http://{address}"), cut)
}

#[tokio::test]
async fn a_claim_whose_answer_is_lost_is_sent_again_and_its_item_runs_once() {
    let bench = Bench::new().await;
    let admin = &bench.admin;
    job(
        admin,
        "eval",
        "echo ran >> \"$OUT/runs\"",
        &bench.out,
        json!({}),
    )
    .await;
    let member = bench.server.client(&bench.member_key);
    let id = enqueue(&member, "gpu", json!({"job": "eval", "project": "train"})).await;

    let target = bench.server.url.trim_start_matches("http://").to_string();
    let (url, cut) = lossy_relay(target, b"/queues/gpu/claim").await;
    let agent = Agent::start_at(&url, &bench.agent_key, &["--queue", "gpu"]);
    let item = ended(admin, &id, "the item to end").await;
    agent.kill();
    assert!(
        cut.load(Ordering::SeqCst),
        "the first claim's answer was lost"
    );
    assert_eq!(item["status"], "finished", "{item}");
    assert_eq!(
        item["attempts"], 1,
        "taken once, not again after a lapsed lease: {item}"
    );
    let runs = std::fs::read_to_string(bench.out.join("runs")).unwrap();
    assert_eq!(runs, "ran\n", "the job ran once");
}
