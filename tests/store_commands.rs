//! What `/sdl` commands keep in the store, on SQLite and (when `SDL_GATE_TEST_DATABASE_URL`
//! is set, always in CI) PostgreSQL: handled comments, threat-model references, the waiver
//! expiries the scheduler loads at start-up, and a repository's last installation.

mod service_support;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sdl_gate::events::{Target, WorkItem, WorkKey};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::gates::{GateKind, OverallVerdict};
use sdl_gate::snapshot::{Login, Sha};
use sdl_gate::store::{CommentClaim, NewDelivery, NewEvaluation, ThreatModelRef};
use sdl_gate::waivers::Waiver;
use serde_json::json;
use service_support::{all_dbs, open};

fn t(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + chrono::Duration::hours(h)
}

fn waiver(gate: GateKind, comment: u64, expires: DateTime<Utc>) -> Waiver {
    Waiver {
        gate,
        reason: "accepted: tracked in SEC-1 for the next release".into(),
        author: Login::new("carol"),
        created_at: t(0),
        expires_at: expires,
        sha: Sha::new("a".repeat(40)),
        comment_id: Some(comment),
        revoked: None,
    }
}

#[tokio::test]
async fn a_comment_is_claimed_once_and_resumed_until_done() {
    for db in all_dbs("a_comment_is_claimed_once").await {
        let store = open(&db).await;
        let claim = |id| store.claim_comment(ForgeName::GitHub, "o/r", 3, id, t(0));
        assert_eq!(
            claim(11).await.ok(),
            Some(CommentClaim::New),
            "{}",
            db.label
        );
        assert_eq!(
            claim(11).await.ok(),
            Some(CommentClaim::Resumed),
            "{}",
            db.label
        );
        store
            .finish_comment(ForgeName::GitHub, "o/r", 11, t(1))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.label));
        assert_eq!(
            claim(11).await.ok(),
            Some(CommentClaim::Done),
            "{}",
            db.label
        );
        // Same id in another repository: a different comment.
        let other = store
            .claim_comment(ForgeName::GitHub, "o/other", 3, 11, t(0))
            .await
            .ok();
        assert_eq!(other, Some(CommentClaim::New), "{}", db.label);
    }
}

#[tokio::test]
async fn threat_model_references_are_stored_and_revoked() {
    for db in all_dbs("threat_model_references_are_stored").await {
        let store = open(&db).await;
        let r = ThreatModelRef {
            reference: "https://tm.example.com/mfa".into(),
            author: Login::new("bob"),
            created_at: t(0),
            sha: Sha::new("b".repeat(40)),
            comment_id: Some(42),
            revoked: None,
        };
        let id = store
            .insert_threat_model_ref(ForgeName::GitHub, "o/r", 5, &r)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.label));
        let got = store
            .threat_model_refs(ForgeName::GitHub, "o/r", 5)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.label));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].reference, r, "{}", db.label);
        assert!(
            store
                .revoke_threat_model_ref(id, "comment deleted", t(2))
                .await
                .unwrap_or(false)
        );
        assert!(
            !store
                .revoke_threat_model_ref(id, "again", t(3))
                .await
                .unwrap_or(true),
            "revoking twice changes nothing"
        );
        let got = store
            .threat_model_refs(ForgeName::GitHub, "o/r", 5)
            .await
            .unwrap_or_default();
        assert_eq!(got[0].reference.revoked.as_deref(), Some("comment deleted"));
        assert!(
            store
                .threat_model_refs(ForgeName::GitHub, "o/r", 6)
                .await
                .unwrap_or_default()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn start_up_loads_future_expiries_and_missed_ones_not_evaluated_since() {
    for db in all_dbs("start_up_loads_expiries").await {
        let store = open(&db).await;
        let now = t(100);
        let add = |n: u64, w: Waiver| {
            let store = store.clone();
            async move {
                store
                    .insert_waiver(ForgeName::GitHub, "o/r", n, &w)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        add(1, waiver(GateKind::Sast, 1, t(150))).await; // future
        add(2, waiver(GateKind::Sast, 2, t(90))).await; // missed, never evaluated since
        add(3, waiver(GateKind::Sast, 3, t(80))).await; // missed, evaluated after expiry
        let revoked = add(4, waiver(GateKind::Sast, 4, t(160))).await; // revoked
        add(
            5,
            waiver(GateKind::Sast, 5, t(100) - chrono::Duration::days(40)),
        )
        .await; // too old
        store
            .revoke_waiver(revoked, "withdrawn", t(95))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for (n, at) in [(2u64, t(85)), (3, t(85))] {
            store
                .insert_evaluation(&NewEvaluation {
                    forge: ForgeName::GitHub,
                    repository: "o/r",
                    number: n,
                    head_sha: &Sha::new("a".repeat(40)),
                    verdict: OverallVerdict::Pass,
                    evaluated_at: at,
                    result: &json!({}),
                })
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let got = store
            .waiver_expiries(now, now - chrono::Duration::days(30))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.label));
        let got: Vec<(u64, DateTime<Utc>)> = got.iter().map(|e| (e.number, e.expires_at)).collect();
        assert_eq!(got, vec![(2, t(90)), (1, t(150))], "{}", db.label);
    }
}

#[tokio::test]
async fn the_installation_comes_from_the_newest_delivery_naming_one() {
    for db in all_dbs("installation_of").await {
        let store = open(&db).await;
        let delivery = |id: &str, payload: serde_json::Value| NewDelivery {
            forge: ForgeName::GitHub,
            delivery_id: id.into(),
            event: "pull_request".into(),
            action: Some("opened".into()),
            payload: payload.to_string(),
            items: vec![WorkItem {
                key: WorkKey {
                    forge: ForgeName::GitHub,
                    repository: "o/r".into(),
                    target: Target::Change(1),
                },
                detail: None,
            }],
        };
        assert_eq!(
            store.installation_of(ForgeName::GitHub, "o/r").await.ok(),
            Some(None)
        );
        store
            .record_deliveries(
                &[
                    delivery("a", json!({"installation": {"id": 5}})),
                    delivery("b", json!({"installation": {"id": 6}})),
                    delivery("c", json!({"zen": "no installation"})),
                ],
                Duration::ZERO,
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.label));
        assert_eq!(
            store.installation_of(ForgeName::GitHub, "o/r").await.ok(),
            Some(Some(6)),
            "{}",
            db.label
        );
        assert_eq!(
            store.installation_of(ForgeName::GitHub, "o/x").await.ok(),
            Some(None)
        );
    }
}
