//! The store suite, run against SQLite and (when `SDL_GATE_TEST_DATABASE_URL` is set, always
//! in CI) PostgreSQL: deliveries and dedupe, coalescing, leases, completions, retries,
//! parking, evaluations and waivers.

mod service_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use sdl_gate::events::{Target, WorkItem, WorkKey};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::gates::{GateKind, OverallVerdict as Verdict};
use sdl_gate::snapshot::{Login, Sha};
use sdl_gate::store::{Completion, NewDelivery, NewEvaluation, Recorded, Store};
use sdl_gate::waivers::Waiver;
use serde_json::json;
use service_support::{all_dbs, open};

const LEASE: Duration = Duration::from_secs(30);

fn delivery(id: &str, repo: &str, number: u64) -> NewDelivery {
    NewDelivery {
        forge: ForgeName::GitHub,
        delivery_id: id.to_owned(),
        event: "pull_request".to_owned(),
        action: Some("synchronize".to_owned()),
        payload: format!("{{\"n\":{number}}}"),
        items: vec![WorkItem {
            key: WorkKey {
                forge: ForgeName::GitHub,
                repository: repo.to_owned(),
                target: Target::Change(number),
            },
            detail: Some(json!({"i": id})),
        }],
    }
}

async fn record(store: &Store, batch: &[NewDelivery]) -> Vec<Recorded> {
    store
        .record_deliveries(batch, Duration::ZERO)
        .await
        .expect("record")
}

#[tokio::test]
async fn deliveries_dedupe_and_coalesce_into_one_job_per_change() {
    for db in all_dbs("deliveries_dedupe_and_coalesce").await {
        let store = open(&db).await;
        let batch: Vec<_> = (0..20)
            .map(|i| delivery(&format!("d{i}"), "o/r", 7))
            .collect();
        let results = record(&store, &batch).await;
        assert!(
            results.iter().all(|r| matches!(r, Recorded::New(_))),
            "{}",
            db.label
        );
        // The same ids again (a redelivery), within one batch too.
        let again = record(
            &store,
            &[
                delivery("d3", "o/r", 7),
                delivery("x", "o/r", 8),
                delivery("x", "o/r", 8),
            ],
        )
        .await;
        assert_eq!(again[0], Recorded::Duplicate, "{}", db.label);
        assert!(matches!(again[1], Recorded::New(_)));
        assert_eq!(again[2], Recorded::Duplicate);
        assert_eq!(store.delivery_count().await.unwrap(), 21);
        let depth = store.queue_depth().await.unwrap();
        assert_eq!(depth.pending, 2, "{}: one job per change request", db.label);

        let job = store.claim("w1", LEASE).await.unwrap().expect("a due job");
        let other = store
            .claim("w2", LEASE)
            .await
            .unwrap()
            .expect("the other job");
        assert_ne!(job.key, other.key);
        assert!(
            store.claim("w3", LEASE).await.unwrap().is_none(),
            "{}: nothing else due",
            db.label
        );
        let (seven, eight) = if job.key.target == Target::Change(7) {
            (&job, &other)
        } else {
            (&other, &job)
        };
        assert_eq!(seven.events.len(), 20, "{}", db.label);
        // The delivery sent twice in one batch brought its event once.
        assert_eq!(eight.events.len(), 1, "{}", db.label);
        let ids: Vec<_> = seven
            .events
            .iter()
            .map(|e| e.delivery_id.as_str())
            .collect();
        assert_eq!(ids[0], "d0");
        assert_eq!(ids[19], "d19");
        assert_eq!(seven.events[5].detail, Some(json!({"i": "d5"})));
        let payload = store
            .delivery_payload(seven.events[0].delivery_pk)
            .await
            .unwrap();
        assert_eq!(payload.as_deref(), Some("{\"n\":7}"));
    }
}

#[tokio::test]
async fn events_arriving_while_running_make_the_job_run_again() {
    for db in all_dbs("events_arriving_while_running").await {
        let store = open(&db).await;
        record(&store, &[delivery("a", "o/r", 1)]).await;
        let job = store.claim("w", LEASE).await.unwrap().unwrap();
        record(&store, &[delivery("b", "o/r", 1)]).await;
        // Still running: not claimable by anyone else.
        assert!(
            store.claim("w2", LEASE).await.unwrap().is_none(),
            "{}",
            db.label
        );
        assert_eq!(
            store.complete_success(&job, Duration::ZERO).await.unwrap(),
            Completion::Pending
        );
        let again = store.claim("w", LEASE).await.unwrap().expect("run again");
        let ids: Vec<_> = again.events.iter().map(|e| e.delivery_id.clone()).collect();
        assert_eq!(ids, ["b"], "{}: only the new event", db.label);
        assert_eq!(again.attempt, 1, "attempts reset after success");
        assert_eq!(
            store
                .complete_success(&again, Duration::ZERO)
                .await
                .unwrap(),
            Completion::Done
        );
        assert!(store.queue_depth().await.unwrap().is_drained());
    }
}

#[tokio::test]
async fn expired_lease_is_reclaimed_and_the_old_owner_is_fenced_off() {
    for db in all_dbs("expired_lease_is_reclaimed").await {
        let store = open(&db).await;
        record(&store, &[delivery("a", "o/r", 1)]).await;
        let crashed = store
            .claim("dead-worker", Duration::from_millis(200))
            .await
            .unwrap()
            .unwrap();
        assert!(
            store.claim("w2", LEASE).await.unwrap().is_none(),
            "{}: lease still held",
            db.label
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let job = store
            .claim("w2", LEASE)
            .await
            .unwrap()
            .expect("reclaimed after the lease");
        assert_eq!(
            job.attempt, 2,
            "{}: the crashed run counts as an attempt",
            db.label
        );
        assert_eq!(job.events.len(), 1);
        // The crashed worker comes back: every write it tries is refused.
        assert!(!store.renew_lease(&crashed, LEASE).await.unwrap());
        assert_eq!(
            store
                .complete_success(&crashed, Duration::ZERO)
                .await
                .unwrap(),
            Completion::LostLease
        );
        assert_eq!(
            store.release(&crashed).await.unwrap(),
            Completion::LostLease
        );
        assert!(store.renew_lease(&job, LEASE).await.unwrap());
        assert_eq!(
            store.complete_success(&job, Duration::ZERO).await.unwrap(),
            Completion::Done
        );
    }
}

#[tokio::test]
async fn failures_retry_later_then_park_and_a_new_event_revives() {
    for db in all_dbs("failures_retry_then_park").await {
        let store = open(&db).await;
        record(&store, &[delivery("a", "o/r", 1)]).await;
        let j1 = store.claim("w", LEASE).await.unwrap().unwrap();
        let c = store
            .complete_failure(&j1, "boom 1", false, Duration::from_secs(60), 2)
            .await
            .unwrap();
        assert_eq!(c, Completion::Pending);
        assert!(
            store.claim("w", LEASE).await.unwrap().is_none(),
            "{}: backing off",
            db.label
        );
        let listed = store.list_jobs(Some("pending"), 10).await.unwrap();
        assert_eq!(listed[0].last_error.as_deref(), Some("boom 1"));
        assert!(listed[0].run_after > Utc::now() + chrono::Duration::seconds(50));

        let c = store
            .complete_failure(&j1, "again", false, Duration::ZERO, 2)
            .await
            .unwrap();
        assert_eq!(c, Completion::LostLease, "not running any more");
        // Make it due and fail the second attempt: parked.
        assert!(!store.retry_parked(j1.id).await.unwrap(), "not parked yet");
        record(&store, &[delivery("b", "o/r", 2)]).await;
        let other = store.claim("w", LEASE).await.unwrap().unwrap();
        assert_eq!(other.key.target, Target::Change(2));
        let c = store
            .complete_failure(&other, "gone", true, Duration::ZERO, 5)
            .await
            .unwrap();
        assert_eq!(
            c,
            Completion::Parked,
            "{}: permanent failure parks at once",
            db.label
        );
        let parked = store.list_jobs(Some("parked"), 10).await.unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].key, "github:o/r#2");
        assert_eq!(parked[0].open_events, 1);
        assert_eq!(store.queue_depth().await.unwrap().parked, 1);
        // A new event for the parked change revives it with fresh attempts.
        record(&store, &[delivery("c", "o/r", 2)]).await;
        let revived = store.claim("w", LEASE).await.unwrap().expect("revived");
        assert_eq!(revived.attempt, 1);
        assert_eq!(revived.events.len(), 2, "{}: old and new events", db.label);
        store
            .complete_failure(&revived, "x", true, Duration::ZERO, 5)
            .await
            .unwrap();
        assert!(store.retry_parked(revived.id).await.unwrap());
        assert_eq!(store.queue_depth().await.unwrap().parked, 0);
    }
}

#[tokio::test]
async fn attempts_reach_the_limit_and_park() {
    for db in all_dbs("attempts_reach_the_limit").await {
        let store = open(&db).await;
        record(&store, &[delivery("a", "o/r", 1)]).await;
        for attempt in 1..=3u32 {
            let job = store.claim("w", LEASE).await.unwrap().expect("due");
            assert_eq!(job.attempt, attempt);
            let c = store
                .complete_failure(&job, "transient", false, Duration::ZERO, 3)
                .await
                .unwrap();
            let expected = if attempt < 3 {
                Completion::Pending
            } else {
                Completion::Parked
            };
            assert_eq!(c, expected, "{} attempt {attempt}", db.label);
        }
        assert!(store.claim("w", LEASE).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn release_gives_the_job_back_without_counting_the_attempt() {
    for db in all_dbs("release_gives_the_job_back").await {
        let store = open(&db).await;
        record(&store, &[delivery("a", "o/r", 1)]).await;
        let job = store.claim("w", LEASE).await.unwrap().unwrap();
        assert_eq!(store.release(&job).await.unwrap(), Completion::Pending);
        let again = store
            .claim("w2", LEASE)
            .await
            .unwrap()
            .expect("released job is due");
        assert_eq!(again.attempt, 1, "{}", db.label);
    }
}

#[tokio::test]
async fn concurrent_claimers_never_get_the_same_job() {
    for db in all_dbs("concurrent_claimers").await {
        let store = open(&db).await;
        let batch: Vec<_> = (0..40)
            .map(|i| delivery(&format!("d{i}"), "o/r", i + 1))
            .collect();
        record(&store, &batch).await;
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for w in 0..6 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(job) = store.claim(&format!("w{w}"), LEASE).await.unwrap() {
                    got.push(job.id);
                    store.complete_success(&job, Duration::ZERO).await.unwrap();
                }
                got
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let unique: HashSet<_> = all.iter().collect();
        assert_eq!(all.len(), 40, "{}: every job claimed once", db.label);
        assert_eq!(unique.len(), 40);
    }
}

#[tokio::test]
async fn a_fenced_off_completion_leaves_the_events_open() {
    for db in all_dbs("fenced_off_completion_leaves_events").await {
        let store = open(&db).await;
        record(&store, &[delivery("a", "o/r", 1), delivery("b", "o/r", 1)]).await;
        let stale = store
            .claim("dead-worker", Duration::from_millis(200))
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let current = store
            .claim("w2", LEASE)
            .await
            .unwrap()
            .expect("reclaimed after the lease");
        // The stale run's completion marks its events before it checks the lease; the refusal
        // must roll those marks back.
        assert_eq!(
            store
                .complete_success(&stale, Duration::ZERO)
                .await
                .unwrap(),
            Completion::LostLease,
            "{}",
            db.label
        );
        assert_eq!(
            store
                .complete_failure(&current, "flaky", false, Duration::ZERO, 5)
                .await
                .unwrap(),
            Completion::Pending
        );
        let retry = store.claim("w3", LEASE).await.unwrap().expect("due again");
        let ids: Vec<_> = retry.events.iter().map(|e| e.delivery_id.clone()).collect();
        assert_eq!(ids, ["a", "b"], "{}: both events still open", db.label);
    }
}

/// Workers complete jobs while deliveries keep adding events to them. A completion that does
/// not wait for an in-flight delivery transaction can judge its job done and strand the new
/// event; this stress test catches that often, not every time.
#[tokio::test]
async fn completions_racing_a_stream_of_deliveries_lose_no_event() {
    for db in all_dbs("completions_racing_deliveries").await {
        let store = Arc::new(open(&db).await);
        let writer = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0..150u32 {
                    let batch: Vec<_> = (0..1 + i % 3)
                        .map(|j| delivery(&format!("d{i}-{j}"), "o/r", u64::from(i % 2) + 1))
                        .collect();
                    record(&store, &batch).await;
                }
            })
        };
        let mut workers = Vec::new();
        for w in 0..3 {
            let store = Arc::clone(&store);
            workers.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                loop {
                    match store.claim(&format!("w{w}"), LEASE).await.unwrap() {
                        Some(job) => {
                            let c = store.complete_success(&job, Duration::ZERO).await.unwrap();
                            assert_ne!(c, Completion::LostLease);
                            seen.extend(job.events.into_iter().map(|e| e.delivery_id));
                        }
                        None => {
                            // Every delivery stored (the writer is done), then nothing left to
                            // run: finished. In that order, so a last delivery cannot slip in
                            // between the two reads.
                            let all_stored = store.delivery_count().await.unwrap() == 300;
                            if all_stored && store.queue_depth().await.unwrap().is_drained() {
                                break seen;
                            }
                            tokio::task::yield_now().await;
                        }
                    }
                }
            }));
        }
        writer.await.unwrap();
        let mut seen = Vec::new();
        for w in workers {
            seen.extend(w.await.unwrap());
        }
        // Every event processed, none left open behind a done job. A run sees an event or,
        // when its job's backlog passed 100 (a slow machine), covers it as a coalesced one
        // (only the newest of each kind is loaded then): both mark it processed.
        let jobs = store.list_jobs(None, 10).await.unwrap();
        assert_eq!(jobs.len(), 2, "{}", db.label);
        for job in &jobs {
            assert_eq!(
                (job.state.as_str(), job.open_events),
                ("done", 0),
                "{}: every event processed (none left behind a done job): {job:?}",
                db.label
            );
        }
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(seen.len(), unique.len(), "{}: and none run twice", db.label);
        assert!(
            unique.len() <= 300 && !unique.is_empty(),
            "{}: {} seen",
            db.label,
            unique.len()
        );
    }
}

#[tokio::test]
async fn evaluations_and_waivers_round_trip() {
    for db in all_dbs("evaluations_and_waivers").await {
        let store = open(&db).await;
        let sha = Sha::new("0123456789abcdef0123456789abcdef01234567");
        let t = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
        let result = json!({"gates": [{"gate": "sast", "verdict": "fail"}]});
        let empty = json!({});
        for (forge, verdict, result) in [
            (ForgeName::GitHub, Verdict::Fail, &result),
            (ForgeName::GitHub, Verdict::Pass, &empty),
            (ForgeName::GitLab, Verdict::Pending, &empty),
        ] {
            let e = NewEvaluation {
                forge,
                repository: "o/r",
                number: 5,
                head_sha: &sha,
                verdict,
                evaluated_at: t,
                result,
            };
            store.insert_evaluation(&e).await.unwrap();
        }
        let evals = store
            .evaluations(ForgeName::GitHub, "o/r", 5, 10)
            .await
            .unwrap();
        assert_eq!(evals.len(), 2, "{}", db.label);
        assert_eq!(evals[0].verdict, Verdict::Pass, "newest first");
        assert_eq!(evals[1].result, result);
        assert_eq!(evals[1].evaluated_at, t);
        assert_eq!(evals[1].head_sha, sha);

        let waiver = Waiver {
            gate: GateKind::Sast,
            reason: "false positive in generated code".to_owned(),
            author: Login::new("sec-lead"),
            created_at: t,
            expires_at: t + chrono::Duration::days(14),
            sha: sha.clone(),
            comment_id: Some(4242),
            revoked: None,
        };
        let id = store
            .insert_waiver(ForgeName::GitHub, "o/r", 5, &waiver)
            .await
            .unwrap();
        let stored = store.waivers(ForgeName::GitHub, "o/r", 5).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].waiver, waiver, "{}", db.label);
        assert!(store.revoke_waiver(id, "comment edited", t).await.unwrap());
        assert!(!store.revoke_waiver(id, "twice", t).await.unwrap());
        let stored = store.waivers(ForgeName::GitHub, "o/r", 5).await.unwrap();
        assert_eq!(stored[0].waiver.revoked.as_deref(), Some("comment edited"));
        assert!(
            store
                .waivers(ForgeName::GitHub, "o/r", 6)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

/// Event `i` of the backlog in `a_claim_of_a_huge_backlog_is_bounded_and_loses_nothing`: every
/// 400th a comment (a command: each must be handled), every 1,000th a label, the rest pushes
/// to the pull request (`synchronize`, the head being `i`).
fn backlog_event(i: usize) -> NewDelivery {
    let mut d = delivery(&format!("e{i:06}"), "big/repo", 1);
    if i % 400 == 7 {
        d.event = "issue_comment".into();
        d.action = Some("created".into());
        d.items[0].detail = Some(json!({
            "comment_id": i, "author": "dev", "body": "/sdl recheck", "action": "created"
        }));
    } else if i % 1000 == 3 {
        d.action = Some("labeled".into());
    } else {
        d.items[0].detail = Some(json!({ "head": format!("{i:040x}") }));
    }
    d
}

/// Rows and bytes a claim hands over (ids, names and details).
fn claim_bytes(job: &sdl_gate::queue::Job) -> usize {
    job.events
        .iter()
        .map(|e| {
            e.delivery_id.len()
                + e.event.len()
                + e.action.as_ref().map_or(0, String::len)
                + e.detail.as_ref().map_or(0, |d| d.to_string().len())
                + 32
        })
        .sum()
}

/// A job that keeps failing while 100,000 events pile up on it: each claim loads at most the
/// oldest `CLAIM_EVENTS_MAX` events plus the newest of each kind (the newest head among
/// them), the comments beyond the window come in later runs, due at once, each exactly once,
/// and every event is processed in the end.
#[tokio::test]
async fn a_claim_of_a_huge_backlog_is_bounded_and_loses_nothing() {
    use sdl_gate::queue::CLAIM_EVENTS_MAX;
    const EVENTS: usize = 100_000;
    let max = usize::try_from(CLAIM_EVENTS_MAX).unwrap();
    let comments: Vec<String> = (0..EVENTS)
        .filter(|i| i % 400 == 7)
        .map(|i| format!("e{i:06}"))
        .collect();
    for db in all_dbs("huge_backlog").await {
        let store = open(&db).await;
        for start in (0..EVENTS).step_by(2_000) {
            let batch: Vec<_> = (start..start + 2_000).map(backlog_event).collect();
            record(&store, &batch).await;
        }
        // The job keeps failing: two claims, both bounded, both the same.
        let first = store.claim("w", LEASE).await.unwrap().expect("due");
        store
            .complete_failure(&first, "GitHub unreachable", false, Duration::ZERO, 10)
            .await
            .unwrap();
        let job = store.claim("w", LEASE).await.unwrap().expect("due again");
        assert_eq!(job.events, first.events, "{}", db.label);
        // Three kinds coalesce (synchronize, labeled; comments do not): at most three rows
        // beyond the window.
        assert!(
            job.events.len() <= max + 3,
            "{}: {} rows",
            db.label,
            job.events.len()
        );
        let bytes = claim_bytes(&job);
        assert!(bytes < 32 * 1024, "{}: {bytes} bytes", db.label);
        eprintln!(
            "{}: a claim of {EVENTS} open events hands over {} rows, {bytes} bytes",
            db.label,
            job.events.len()
        );
        let ids: Vec<&str> = job.events.iter().map(|e| e.delivery_id.as_str()).collect();
        let oldest: Vec<String> = (0..max).map(|i| format!("e{i:06}")).collect();
        assert_eq!(ids[..max], oldest[..], "{}: the oldest window", db.label);
        let newest = job.events.last().unwrap();
        assert_eq!(
            newest.delivery_id, "e099999",
            "{}: the newest head",
            db.label
        );
        assert_eq!(
            newest.detail,
            Some(json!({ "head": format!("{:040x}", EVENTS - 1) })),
            "{}",
            db.label
        );
        assert!(ids.contains(&"e099003"), "{}: the newest label", db.label);
        assert!(job.more, "{}: comments left over", db.label);
        assert_eq!(
            job.events
                .windows(2)
                .filter(|w| w[0].seq >= w[1].seq)
                .count(),
            0,
            "{}: oldest first",
            db.label
        );

        // The job now succeeds; the comments beyond the window follow, each once, at once.
        let mut handled: Vec<String> = Vec::new();
        let mut runs = 0;
        let mut job = job;
        loop {
            runs += 1;
            handled.extend(
                job.events
                    .iter()
                    .filter(|e| e.event == "issue_comment")
                    .map(|e| e.delivery_id.clone()),
            );
            if runs > 1 {
                assert!(
                    job.events.iter().all(|e| e.event == "issue_comment"),
                    "{}: coalesced events came back in run {runs}",
                    db.label
                );
                assert!(job.events.len() <= max, "{}", db.label);
            }
            let more = job.more;
            let state = store
                .complete_success(&job, Duration::from_secs(3600))
                .await
                .unwrap();
            if !more {
                assert_eq!(state, Completion::Done, "{}", db.label);
                break;
            }
            assert_eq!(state, Completion::Pending, "{}", db.label);
            job = store
                .claim("w", LEASE)
                .await
                .unwrap()
                .expect("left-over comments are due at once, not after the debounce");
            assert!(runs < 10, "{}: no progress", db.label);
        }
        assert_eq!(
            handled, comments,
            "{}: every comment once, in order",
            db.label
        );
        let jobs = store.list_jobs(None, 10).await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].open_events, 0, "{}: nothing left open", db.label);
        assert_eq!(jobs[0].state, "done");
    }
}

#[tokio::test]
async fn retention_prunes_handled_events_and_unreferenced_deliveries_only() {
    for db in all_dbs("retention_prunes").await {
        let store = open(&db).await;
        let l = &db.label;
        let mut batch: Vec<_> = (0..5)
            .map(|i| delivery(&format!("p{i}"), "o/r", 1))
            .collect();
        batch.push(delivery("open", "o/r", 2));
        // One delivery feeding two jobs: it stays while either still needs it.
        let mut shared = delivery("shared", "o/r", 3);
        let mut four = shared.items[0].clone();
        four.key.target = Target::Change(4);
        shared.items.push(four);
        batch.push(shared);
        record(&store, &batch).await;
        assert_eq!(store.delivery_count().await.unwrap(), 7, "{l}");
        store
            .remember_installation(ForgeName::GitHub, "o/r", 77)
            .await
            .unwrap();
        let sha = Sha::new("0123456789abcdef0123456789abcdef01234567");
        let evaluation = json!({"gates": []});
        store
            .insert_evaluation(&NewEvaluation {
                forge: ForgeName::GitHub,
                repository: "o/r",
                number: 1,
                head_sha: &sha,
                verdict: Verdict::Pass,
                evaluated_at: Utc::now(),
                result: &evaluation,
            })
            .await
            .unwrap();

        // #1 and #3 are handled; #2 and #4 are given back with their events open.
        let mut open_jobs = Vec::new();
        while let Some(job) = store.claim("w", LEASE).await.unwrap() {
            match job.key.target {
                Target::Change(1) | Target::Change(3) => {
                    store.complete_success(&job, LEASE).await.unwrap();
                }
                _ => open_jobs.push(job),
            }
        }
        assert_eq!(open_jobs.len(), 2, "{l}");

        let before = sdl_gate::store::now_ms() - 86_400_000;
        let nothing = store.prune(before, 2, Duration::ZERO).await.unwrap();
        assert!(nothing.is_empty(), "{l}: nothing is a day old: {nothing:?}");

        let cutoff = sdl_gate::store::now_ms() + 1_000;
        let pruned = store.prune(cutoff, 2, Duration::ZERO).await.unwrap();
        assert_eq!(pruned.job_events, 6, "{l}: #1's five events and #3's one");
        assert_eq!(
            pruned.deliveries, 5,
            "{l}: #1's deliveries; `shared` still feeds #4"
        );
        assert!(pruned.batches >= 4, "{l}: in batches of two: {pruned:?}");
        assert_eq!(store.delivery_count().await.unwrap(), 2, "{l}");
        for job in &open_jobs {
            for event in &job.events {
                assert!(
                    store
                        .delivery_payload(event.delivery_pk)
                        .await
                        .unwrap()
                        .is_some(),
                    "{l}: an open event keeps its delivery"
                );
            }
        }
        assert!(
            store
                .prune(cutoff, 2, Duration::ZERO)
                .await
                .unwrap()
                .is_empty(),
            "{l}: a second run finds nothing"
        );
        // The evidence and the installation survive the deliveries.
        assert_eq!(
            store
                .evaluations(ForgeName::GitHub, "o/r", 1, 10)
                .await
                .unwrap()
                .len(),
            1,
            "{l}"
        );
        assert_eq!(
            store
                .installation_of(ForgeName::GitHub, "o/r")
                .await
                .unwrap(),
            Some(77),
            "{l}"
        );
        // The same again writes nothing; a moved repository is remembered anew.
        for id in [77, 78] {
            store
                .remember_installation(ForgeName::GitHub, "o/r", id)
                .await
                .unwrap();
        }
        assert_eq!(
            store
                .installation_of(ForgeName::GitHub, "o/r")
                .await
                .unwrap(),
            Some(78),
            "{l}"
        );

        // Once the open jobs run, nothing of theirs is needed either.
        for job in &open_jobs {
            store.release(job).await.unwrap();
        }
        while let Some(job) = store.claim("w", LEASE).await.unwrap() {
            store.complete_success(&job, LEASE).await.unwrap();
        }
        let cutoff = sdl_gate::store::now_ms() + 1_000;
        let rest = store.prune(cutoff, 500, Duration::ZERO).await.unwrap();
        assert_eq!((rest.job_events, rest.deliveries), (2, 2), "{l}");
        assert_eq!(store.delivery_count().await.unwrap(), 0, "{l}");
    }
}

/// PostgreSQL keeps what the service compressed (migration 0009), not the text: a large body
/// takes a fraction of its size in `packed`, reads back byte for byte, and rows written as
/// text before the migration, or damaged, read back or are refused naming the row.
#[tokio::test]
async fn postgres_keeps_payloads_compressed_and_still_reads_text_rows() {
    let Some(db) = service_support::postgres_db("postgres_keeps_payloads_compressed").await else {
        return;
    };
    let store = open(&db).await;
    let user = r#"{"login":"octocat","id":1,"avatar_url":"https://github.com/images/error/octocat_happy.gif","site_admin":false}"#;
    let body = format!(
        r#"{{"action":"synchronize","users":[{}]}}"#,
        vec![user; 200].join(",")
    );
    let mut big = delivery("big", "o/r", 7);
    big.payload = body.clone();
    let [Recorded::New(pk)] = record(&store, &[big]).await[..] else {
        panic!("not recorded as new");
    };
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let (text_null, packed): (bool, i32) = sqlx::query_as(
        "SELECT payload IS NULL, octet_length(packed) FROM deliveries WHERE id = $1",
    )
    .bind(pk)
    .fetch_one(&pool)
    .await
    .expect("row");
    assert!(text_null, "the text is not stored beside the packed form");
    assert!(
        i64::from(packed) * 4 < body.len() as i64,
        "{packed} bytes kept for {}",
        body.len()
    );
    assert_eq!(store.delivery_payload(pk).await.expect("read"), Some(body));

    // A row stored as text before the migration, one damaged on disk, one with neither.
    let insert = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool);
    let id = insert(
        "INSERT INTO deliveries (forge, delivery_id, event, action, received_at, payload) \
         VALUES ('github', 'old', 'pull_request', NULL, 0, '{\"n\":1}') RETURNING id",
    )
    .await
    .expect("text row");
    assert_eq!(
        store.delivery_payload(id).await.expect("text row reads"),
        Some("{\"n\":1}".to_owned())
    );
    let bad = insert(
        "INSERT INTO deliveries (forge, delivery_id, event, action, received_at, packed) \
         VALUES ('github', 'bad', 'pull_request', NULL, 0, '\\x006c7a34ffffff7f00') RETURNING id",
    )
    .await
    .expect("damaged row");
    match store.delivery_payload(bad).await {
        Err(sdl_gate::store::StoreError::Corrupt(message)) => {
            assert!(
                message.starts_with(&format!("delivery {bad}: ")),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let neither = sqlx::query(
        "INSERT INTO deliveries (forge, delivery_id, event, action, received_at) \
         VALUES ('github', 'none', 'pull_request', NULL, 0)",
    )
    .execute(&pool)
    .await;
    assert!(neither.is_err(), "a row without a body is refused");
    pool.close().await;
}
