//! Group commit for deliveries: every webhook handler hands its delivery to one writer task,
//! which stores whatever has queued up in a single transaction and answers each handler once
//! the commit is durable. Under load this turns thousands of fsyncs per second into a few
//! dozen, without ever answering before the data is on disk. On PostgreSQL several batches are
//! written at once (each one statement, its own transaction; the server merges their WAL
//! flushes): one batch at a time left the service waiting on each commit's flush, with the CPU
//! idle.

use std::time::Duration;

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Backend, NewDelivery, Recorded, Store, StoreError};

/// The delivery writer's thread. Handlers queue deliveries and wait; the writer turns each
/// batch around in database round trips (four on SQLite, one on PostgreSQL, each a wait for
/// the database). On the service's runtime each of them
/// waited its turn behind the handlers' tasks (parsing, hashing: tens of them on two cores);
/// on a thread of its own the kernel wakes it when the answer arrives.
pub const WRITER_THREAD: &str = "sdl-gate-writer";

/// Most deliveries written in one transaction.
pub const MAX_BATCH: usize = 512;
/// Deliveries that may wait for the writer before handlers wait for room (back-pressure).
const QUEUE_CAPACITY: usize = 8_192;
/// Batches being written at once on PostgreSQL (SQLite has one writer connection); each holds
/// a connection of the writer's own pool while it writes.
pub const POSTGRES_WRITERS: usize = 4;

type Reply = oneshot::Sender<Result<Recorded, StoreError>>;

/// A delivery waiting for the writer: itself, its payload as the store keeps it (packed by the
/// handler that submitted it), and where to answer.
type Queued = (NewDelivery, Vec<u8>, Reply);

/// The sending side of the delivery writer; cheap to clone.
#[derive(Debug, Clone)]
pub struct Committer {
    tx: mpsc::Sender<Queued>,
}

impl Committer {
    /// Starts the writer on `store`, on a thread and tokio runtime of its own (see
    /// [`WRITER_THREAD`]). It stops when every `Committer` clone is dropped, after writing
    /// what was already queued; the returned handle finishes then.
    pub fn spawn(store: Store, debounce: Duration) -> (Committer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let committer = Committer { tx };
        let (done, finished) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(WRITER_THREAD.to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => runtime.block_on(write_all(store, debounce, rx)),
                    Err(err) => {
                        tracing::error!(error = %err, "cannot start the delivery writer's runtime");
                    }
                }
                let _ = done.send(());
            });
        if let Err(err) = thread {
            // Without a writer every submission fails (503) instead of hanging.
            tracing::error!(error = %err, "cannot start the delivery writer's thread");
        }
        let handle = tokio::spawn(async move {
            let _ = finished.await;
        });
        (committer, handle)
    }

    /// Stores one delivery durably (batched with concurrent ones) and says whether it was new.
    /// The payload is compressed here, on the caller's task, so handlers pack in parallel;
    /// the writer only sees the packed form.
    pub async fn submit(&self, mut delivery: NewDelivery) -> Result<Recorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        let packed = super::payload::pack(&delivery.payload);
        // The text is not needed once packed: freed here, by the thread that allocated it,
        // not by the writer's (a cross-thread free of 20–30 KB costs the allocator more).
        drop(std::mem::take(&mut delivery.payload));
        self.tx
            .send((delivery, packed, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// The writers of one store, on the writer's runtime: one on SQLite (one write connection),
/// [`POSTGRES_WRITERS`] on PostgreSQL, through a pool of their own opened from this runtime.
async fn write_all(store: Store, debounce: Duration, rx: mpsc::Receiver<Queued>) {
    let (writers, store) = match store.backend() {
        Backend::Sqlite => (1, store),
        Backend::Postgres => (
            POSTGRES_WRITERS,
            store.with_own_postgres_pool(POSTGRES_WRITERS as u32),
        ),
    };
    let rx = Arc::new(Mutex::new(rx));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..writers {
        tasks.spawn(writer(store.clone(), debounce, Arc::clone(&rx)));
    }
    while tasks.join_next().await.is_some() {}
    if store.backend() == Backend::Postgres {
        // Its own pool's connections belong to this runtime, which ends with this function.
        store.close_write_pool().await;
    }
}

/// One writer: takes whatever has queued (the queue's lock is held only while taking), writes
/// it as one batch, answers each handler, and goes again until every sender is gone.
async fn writer(store: Store, debounce: Duration, rx: Arc<Mutex<mpsc::Receiver<Queued>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut packed = Vec::new();
    let mut replies = Vec::with_capacity(MAX_BATCH);
    loop {
        let mut incoming = Vec::with_capacity(MAX_BATCH);
        if rx.lock().await.recv_many(&mut incoming, MAX_BATCH).await == 0 {
            return;
        }
        for (delivery, payload, reply) in incoming {
            batch.push(delivery);
            packed.push(payload);
            replies.push(reply);
        }
        match store
            .record_packed(&batch, std::mem::take(&mut packed), debounce)
            .await
        {
            Ok(results) => {
                store.note_commit(None);
                for (reply, result) in replies.drain(..).zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, deliveries = batch.len(), "storing deliveries failed");
                let message = err.to_string();
                store.note_commit(Some(message.clone()));
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(StoreError::Commit(message.clone())));
                }
            }
        }
        batch.clear();
    }
}
