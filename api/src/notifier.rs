//! Wake-ups for readers waiting on the event log (long-polls, SSE streams):
//! every commit in this process bumps a counter they watch, and on
//! PostgreSQL a LISTEN connection bumps it for commits of other processes.

use planledger_persistence::{Store, EVENTS_CHANNEL};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Waiters re-read the log at least this often, in case a wake-up was lost
/// (a LISTEN connection that dropped and is reconnecting).
pub const RECHECK: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct EventNotifier {
    commits: Arc<watch::Sender<u64>>,
}

impl EventNotifier {
    pub fn new() -> Self {
        Self {
            commits: Arc::new(watch::channel(0).0),
        }
    }

    /// Tells every waiter that something may have been committed.
    pub fn wake(&self) {
        self.commits.send_modify(|count| *count = count.wrapping_add(1));
    }

    /// A receiver that sees every wake-up after this call.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// The store, waking this notifier after each of its commits.
    pub fn attach(&self, store: Store) -> Store {
        let notifier = self.clone();
        store.with_commit_hook(Arc::new(move || notifier.wake()))
    }

    /// On PostgreSQL, listens for other processes' commits until the runtime stops.
    pub fn listen(&self, store: &Store) {
        let Some(url) = store.listen_url().map(str::to_owned) else {
            return;
        };
        let notifier = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = notifier.listen_once(&url).await {
                    tracing::warn!(%error, "LISTEN for other processes' commits failed; retrying");
                }
                tokio::time::sleep(RECHECK).await;
            }
        });
    }

    async fn listen_once(&self, url: &str) -> Result<(), tokio_postgres::Error> {
        use futures_util::StreamExt;
        let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        let listen = format!("LISTEN {EVENTS_CHANNEL}");
        let listening = client.batch_execute(&listen);
        tokio::pin!(listening);
        let mut listened = false;
        // The connection must be polled for the LISTEN to complete, and afterwards for notifications.
        loop {
            tokio::select! {
                result = &mut listening, if !listened => {
                    result?;
                    listened = true;
                }
                message = messages.next() => match message {
                    Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => self.wake(),
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(error),
                    None => return Ok(()),
                },
            }
        }
    }
}

impl Default for EventNotifier {
    fn default() -> Self {
        Self::new()
    }
}
