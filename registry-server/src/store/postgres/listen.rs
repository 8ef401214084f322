//! Commits announced between instances: every commit sends a notification on the database
//! (`NOTIFY`, delivered when its transaction commits), and each instance listens on a
//! connection of its own, so that another instance's publish reaches it at once instead of at
//! the next `[store] refresh_ms` poll. The poll stays: it is the bound when the listening
//! connection is down.

use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The channel commits are announced on.
pub(super) const CHANNEL: &str = "wtool_registry_log";

/// How long the listener waits before it connects again after losing its connection.
const RECONNECT: Duration = Duration::from_secs(1);

/// Listens until the store's runtime stops, bumping `changes` on each announcement, and once
/// after each (re)connection, since announcements made while it was away are lost.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    changes: watch::Sender<u64>,
) {
    loop {
        match session(&config, tls.clone(), &changes).await {
            Ok(()) => tracing::debug!("the database closed the listening connection"),
            Err(e) => tracing::debug!("listening for other instances' commits: {e}"),
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

async fn session(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
    changes: &watch::Sender<u64>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tls).await?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let announce = changes.clone();
    // The connection delivers notifications only while it is polled, and the LISTEN below
    // needs it polled too.
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        let mut result = Ok(());
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => announce.send_modify(|n| *n += 1),
                Ok(_) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let _ = done_tx.send(result);
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    changes.send_modify(|n| *n += 1);
    let result = done_rx.await.unwrap_or(Ok(()));
    driver.abort();
    result
}
