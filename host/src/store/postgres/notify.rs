//! Changes between hosts: a write that other hosts cache (automations, secrets and integrations,
//! API keys) runs `pg_notify` in its own transaction, so the notice goes out exactly when the
//! change commits. Each host keeps one connection that `LISTEN`s and turns notices into
//! [`Change`]s; the credentials generation moves on at once, the rest reaches whoever subscribed.
//! After a lost connection every kind counts as changed, since notices sent meanwhile are gone.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::future::poll_fn;
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::store::{Change, Shared, StoreError};

/// The channel notices travel on.
const CHANNEL: &str = "herald_changes";

/// How long the listener waits before connecting again after losing its connection.
const RECONNECT: Duration = Duration::from_millis(500);

/// How often the listening connection proves it is alive. A connection that died without a word
/// (a host or network gone, no reset) is found within this and the probe's timeout, so a change
/// reaches every host within about 15 s at worst (within milliseconds normally).
const PROBE_EVERY: Duration = Duration::from_secs(10);

/// How long a probe may take before the connection counts as lost.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends and hears change notices. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Notifier {
    changes: broadcast::Sender<Change>,
}

impl Notifier {
    /// Starts listening (in the background, reconnecting by itself).
    pub(super) fn start(config: tokio_postgres::Config, shared: Arc<Shared>) -> Self {
        let (changes, _) = broadcast::channel(64);
        let sender = changes.clone();
        tokio::spawn(async move {
            let mut connected_before = false;
            loop {
                match listen(&config, &shared, &sender, &mut connected_before).await {
                    Ok(()) => tracing::warn!("change notices: the connection closed; reconnecting"),
                    Err(error) => {
                        tracing::warn!(%error, "change notices: no connection; retrying")
                    }
                }
                tokio::time::sleep(RECONNECT).await;
            }
        });
        Self { changes }
    }

    /// Hears every change from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Announces `change` when `tx` commits.
    pub(super) async fn announce(
        tx: &deadpool_postgres::Transaction<'_>,
        change: Change,
    ) -> Result<(), StoreError> {
        let statement = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
        tx.execute(&statement, &[&CHANNEL, &change.as_str()])
            .await?;
        Ok(())
    }
}

/// One listening connection, until it fails.
async fn listen(
    config: &tokio_postgres::Config,
    shared: &Shared,
    changes: &broadcast::Sender<Change>,
    connected_before: &mut bool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (notices, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(notice)) => {
                    if notices.send(notice.payload().to_string()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "change notices: connection error");
                    break;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    if *connected_before {
        // Notices sent while this host was not listening are lost: assume everything changed.
        for change in Change::ALL {
            publish(shared, changes, change);
        }
    }
    *connected_before = true;
    let mut probe = tokio::time::interval(PROBE_EVERY);
    probe.tick().await;
    let result = loop {
        tokio::select! {
            payload = heard.recv() => match payload {
                Some(payload) => match Change::parse(&payload) {
                    Some(change) => publish(shared, changes, change),
                    None => tracing::warn!(payload, "change notices: unknown notice"),
                },
                None => break Ok(()),
            },
            _ = probe.tick() => {
                match tokio::time::timeout(PROBE_TIMEOUT, client.simple_query("SELECT 1")).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => break Err(error),
                    Err(_) => {
                        tracing::warn!("change notices: the connection stopped answering");
                        break Ok(());
                    }
                }
            }
        }
    };
    driver.abort();
    result
}

fn publish(shared: &Shared, changes: &broadcast::Sender<Change>, change: Change) {
    if change == Change::Credentials {
        shared.credentials_generation.fetch_add(1, Ordering::AcqRel);
    }
    // Nobody listening is fine: the automation index subscribes once the server is up.
    let _ = changes.send(change);
}
