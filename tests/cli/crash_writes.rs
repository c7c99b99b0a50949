//! Rating writes through SIGKILLs (issue 28): shared by the embedded-broker test
//! (`events.rs`) and the Kafka one (`tests/kafka`), which read the published events each
//! with their own client.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use movieapp::pb::{PutRatingRequest, rating_service_client::RatingServiceClient};
use serde_json::Value;

use crate::support::Server;

/// Writers at once: a record's writes are all one writer's, one at a time.
const WORKERS: usize = 8;
/// Records written to: write `i` goes to record `r{i % RECORDS}`.
const RECORDS: usize = 40;

/// What [`write_through_kills`] did.
pub struct Written {
    /// The writes the server acknowledged.
    pub acked: HashSet<usize>,
    /// Every write sent, acknowledged or not (a dead server may have stored it).
    pub attempted: HashSet<usize>,
    /// The last server, still running.
    pub server: Server,
}

/// Sends `writes` PutRating calls, SIGKILLing the server `kills` times mid-stream (after
/// each further `writes / (kills + 1)` acknowledgements) and starting it again with
/// `start`. Write `i`: user `u{i}` gives record `r{i % 40}` the value `1 + i % 5`, so each
/// changes something. A write the dead server did not answer is not retried.
pub async fn write_through_kills(
    start: impl Fn() -> Server + Clone + Send + 'static,
    writes: usize,
    kills: usize,
) -> Written {
    let acked = Arc::new(Mutex::new(HashSet::<usize>::new()));
    let attempted = Arc::new(Mutex::new(HashSet::<usize>::new()));
    // Writer w does the writes i ≡ w (mod WORKERS) in order; RECORDS is a multiple of
    // WORKERS, so each record's writes are one writer's and commit in their order.
    let progress: Arc<Vec<AtomicUsize>> = Arc::new((0..WORKERS).map(AtomicUsize::new).collect());
    let started = Instant::now();
    for round in 0..=kills {
        let server = tokio::task::spawn_blocking(start.clone())
            .await
            .expect("start serve");
        let channel = server.channel("rating").await;
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (channel, acked, attempted, progress) = (
                    channel.clone(),
                    acked.clone(),
                    attempted.clone(),
                    progress.clone(),
                );
                tokio::spawn(async move {
                    let mut client = RatingServiceClient::new(channel);
                    loop {
                        let i = progress[w].load(Relaxed);
                        if i >= writes {
                            return;
                        }
                        attempted.lock().unwrap().insert(i);
                        progress[w].store(i + WORKERS, Relaxed);
                        let request = PutRatingRequest {
                            user_id: format!("u{i}"),
                            record_id: format!("r{}", i % RECORDS),
                            record_type: "movie".into(),
                            rating_value: (1 + i % 5) as i32,
                        };
                        match client.put_rating(request).await {
                            Ok(_) => {
                                acked.lock().unwrap().insert(i);
                            }
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        if round < kills {
            let kill_at = writes * (round + 1) / (kills + 1);
            while acked.lock().unwrap().len() < kill_at {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            tokio::task::spawn_blocking(move || server.kill())
                .await
                .unwrap();
            for w in workers {
                let _ = w.await;
            }
            continue;
        }
        for w in workers {
            w.await.unwrap();
        }
        let acked = acked.lock().unwrap().clone();
        let attempted = attempted.lock().unwrap().clone();
        eprintln!(
            "{} writes acknowledged of {} attempted in {:.1?}, through {kills} SIGKILLs",
            acked.len(),
            attempted.len(),
            started.elapsed()
        );
        return Written {
            acked,
            attempted,
            server,
        };
    }
    unreachable!("the last round returns")
}

/// The write an event reports, from its user id `u{i}`.
pub fn write_of(event: &Value) -> usize {
    event["userId"]
        .as_str()
        .and_then(|u| u.strip_prefix('u'))
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("not one of the test's writes: {event}"))
}

/// Checks the events read from `rating-changes`, in their order per record: every
/// acknowledged write is there, nothing that was not written, and each record's first
/// copies (a relay killed before marking its rows sent publishes them again, with the same
/// eventId) in the order written.
pub fn check_published(events: &[Value], written: &Written) {
    let mut first = HashSet::new();
    let mut last: HashMap<String, usize> = HashMap::new();
    let mut found = HashSet::new();
    for event in events {
        let i = write_of(event);
        assert!(written.attempted.contains(&i), "never written: {event}");
        let record = event["recordId"].as_str().unwrap_or_default().to_owned();
        assert_eq!(record, format!("r{}", i % RECORDS), "{event}");
        let id = event["eventId"].as_str().unwrap_or_default().to_owned();
        if !first.insert(id) {
            continue;
        }
        found.insert(i);
        if let Some(before) = last.insert(record.clone(), i) {
            assert!(
                i > before,
                "record {record}: write {i} published after {before}"
            );
        }
    }
    let missing: Vec<_> = written.acked.difference(&found).take(10).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes not published, e.g. {missing:?}",
        written.acked.len() - written.acked.intersection(&found).count(),
        written.acked.len()
    );
    eprintln!(
        "{} events read, {} distinct, every one of {} acknowledged writes among them",
        events.len(),
        first.len(),
        written.acked.len()
    );
}
