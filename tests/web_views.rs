//! What the pages read and show, on SQLite and PostgreSQL: a history written the way the
//! engine writes it (`pages_data::seed`) is read back by the store's page queries and rendered
//! by the change page and the dashboard — the blocked change and only it, the bypass said in
//! words, every hostile string from authors and scanners shown as text and never as markup.

mod pages_data;
mod service_support;

use chrono::{Duration, Utc};

use sdl_gate::forge_name::ForgeName;
use sdl_gate::gates::{GateKind, OverallVerdict, Verdict};
use sdl_gate::ledger::entry::{Entry, Sealed};
use sdl_gate::render::html::Chrome;
use sdl_gate::web::views;
use service_support::{all_dbs, open};

const REPO: &str = "acme/plant";

fn chrome() -> Chrome {
    Chrome {
        title: "t".into(),
        viewer: Some("alice".into()),
        crumbs: vec![],
    }
}

/// No markup from the seed's hostile text survives into a page.
fn assert_inert(html: &str) {
    for bad in [
        "<script",
        "<img",
        "onerror=alert(1)>",
        "href=\"javascript:",
        "<!--",
    ] {
        assert!(!html.contains(bad), "`{bad}` reached the page:\n{html}");
    }
}

#[tokio::test]
async fn the_store_reads_what_the_pages_show() {
    for db in all_dbs("the_store_reads_what_the_pages_show").await {
        let store = open(&db).await;
        let now = Utc::now();
        let seeded = pages_data::seed(&store, ForgeName::GitHub, REPO, now).await;

        let blocked = store
            .blocked_changes(ForgeName::GitHub, REPO, 100)
            .await
            .expect("blocked");
        assert_eq!(
            blocked.iter().map(|b| b.latest.number).collect::<Vec<_>>(),
            vec![seeded.blocked],
            "{}: only the unmerged failing change is blocked (the bypassed #9 is merged)",
            db.label
        );
        assert_eq!(
            blocked[0].latest.head_sha,
            pages_data::sha(0x7b),
            "its latest head"
        );
        let gates: Vec<GateKind> = blocked[0].gates.iter().map(|(g, _)| *g).collect();
        assert!(gates.contains(&GateKind::ThreatModel), "{gates:?}");
        assert!(gates.contains(&GateKind::Sast), "{gates:?}");
        assert!(
            blocked[0]
                .gates
                .iter()
                .all(|(_, v)| matches!(v, Verdict::Fail | Verdict::Pending)),
            "only holding gates are listed"
        );

        let history = store
            .evaluation_history(ForgeName::GitHub, REPO, 7, 10)
            .await
            .expect("history");
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].head_sha, pages_data::sha(0x7b), "newest first");

        let days = store
            .verdicts_by_day(ForgeName::GitHub, REPO, now - Duration::days(2))
            .await
            .expect("days");
        let total: u64 = days.iter().map(|d| d.count).sum();
        assert_eq!(total, 5, "{}: five evaluations were written", db.label);
        let fails: u64 = days
            .iter()
            .filter(|d| d.verdict == OverallVerdict::Fail)
            .map(|d| d.count)
            .sum();
        assert_eq!(fails, 3, "#7 twice and #9");

        let expiring = store
            .waivers_expiring(ForgeName::GitHub, REPO, now, now + Duration::days(7))
            .await
            .expect("expiring");
        assert_eq!(
            expiring.iter().map(|w| w.number).collect::<Vec<_>>(),
            vec![10]
        );
        let later = store
            .waivers_expiring(
                ForgeName::GitHub,
                REPO,
                now + Duration::days(4),
                now + Duration::days(11),
            )
            .await
            .expect("later");
        assert!(later.is_empty(), "the waiver ends in three days");

        let for_merges = store
            .ledger_entries_for_merges(ForgeName::GitHub, REPO)
            .await
            .expect("entries for merges");
        let mut evaluated = Vec::new();
        for stored in &for_merges {
            let s: Sealed = serde_json::from_str(&stored.body).expect("sealed");
            if let Entry::Evaluation(e) = &s.entry {
                evaluated.push(e.subject.number);
            }
        }
        assert_eq!(
            evaluated,
            vec![8, 9, 10],
            "only the evaluations the merges name, not #7's"
        );
        assert!(
            for_merges.windows(2).all(|w| w[0].seq < w[1].seq),
            "in ledger order"
        );

        assert!(
            store
                .repository_known(ForgeName::GitHub, REPO)
                .await
                .expect("known")
        );
        assert!(
            !store
                .repository_known(ForgeName::GitLab, REPO)
                .await
                .expect("other forge")
        );
    }
}

#[tokio::test]
async fn the_change_page_explains_the_verdict_and_shows_the_ledger() {
    let db = service_support::sqlite_db();
    let store = open(&db).await;
    let now = Utc::now();
    pages_data::seed(&store, ForgeName::GitHub, REPO, now).await;

    let html = views::change(&store, &chrome(), ForgeName::GitHub, REPO, 7, now)
        .await
        .expect("renders")
        .expect("change 7 is known");
    assert_inert(&html);
    assert!(html.contains("class=\"verdict fail\""), "{html}");
    assert!(html.contains("id=\"gate-threat_model\""));
    assert!(html.contains("What unblocks it"));
    assert!(html.contains("SR-2"), "requirement ids are shown");
    assert!(html.contains("src/auth/login.rs:42"), "the finding's place");
    assert!(
        html.contains("&#60;script&#62;"),
        "the scanner's message is shown as text"
    );
    let entries = store
        .ledger_entries_of(Some(ForgeName::GitHub), REPO, Some(7))
        .await
        .expect("entries");
    assert_eq!(entries.len(), 2);
    for e in &entries {
        assert!(html.contains(&e.hash), "ledger hash {} is shown", e.hash);
    }
    assert!(
        html.contains(&pages_data::sha(0x7a)),
        "the earlier evaluation is in the history"
    );

    let waived = views::change(&store, &chrome(), ForgeName::GitHub, REPO, 10, now)
        .await
        .expect("renders")
        .expect("known");
    assert_inert(&waived);
    assert!(waived.contains("in force"), "the waiver's state");
    assert!(waived.contains("reviewed in the design meeting"));

    let bypassed = views::change(&store, &chrome(), ForgeName::GitHub, REPO, 9, now)
        .await
        .expect("renders")
        .expect("known");
    assert!(bypassed.contains("BYPASSED"), "a bypass is said in words");

    let unknown = views::change(&store, &chrome(), ForgeName::GitHub, REPO, 99, now)
        .await
        .expect("renders");
    assert!(unknown.is_none(), "nothing recorded → no page");
}

#[tokio::test]
async fn the_dashboard_shows_what_blocks_expires_and_bypassed() {
    let db = service_support::sqlite_db();
    let store = open(&db).await;
    let now = Utc::now();
    pages_data::seed(&store, ForgeName::GitHub, REPO, now).await;
    let entries = views::merge_entries(&store, ForgeName::GitHub, REPO)
        .await
        .expect("entries");
    let coverage = views::coverage(ForgeName::GitHub, REPO, &entries, now).expect("coverage");
    assert!(
        coverage
            .0
            .iter()
            .any(|b| b.id == "SR-2" && b.applicable == 3),
        "SR-2 applied to the three merged changes: {:?}",
        coverage.0
    );
    assert!(
        coverage.0.iter().all(|b| b.covered <= b.applicable),
        "never more covered than applicable"
    );
    assert!(
        coverage.1.iter().any(|id| id.starts_with("SUM")),
        "update management needs process evidence: {:?}",
        coverage.1
    );

    let html = views::dashboard(&store, &chrome(), ForgeName::GitHub, REPO, now)
        .await
        .expect("renders")
        .expect("the repository is known");
    assert_inert(&html);
    let section = |id: &str| {
        let start = html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("section {id}"));
        html[start..]
            .split("</table>")
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let blocked = section("blocked");
    assert!(
        blocked.contains("/changes/github/acme/plant/7"),
        "{blocked}"
    );
    assert!(
        !blocked.contains("/changes/github/acme/plant/9"),
        "merged is not blocked"
    );
    assert!(section("expiring").contains("#10"));
    let bypassed = section("bypassed");
    assert!(
        bypassed.contains("#9") && bypassed.contains("BYPASSED"),
        "{bypassed}"
    );
    assert!(!bypassed.contains("#8"), "green merges are not bypasses");
    assert!(section("releases").contains("/repos/github/acme/plant/-/releases/v1.0"));
    let chart = section("verdict-chart");
    let failed: u64 = chart
        .split("<title>")
        .skip(1)
        .filter_map(|t| t.split("</title>").next())
        .filter(|t| t.ends_with(" fail"))
        .filter_map(|t| t.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    assert_eq!(failed, 3, "the chart counts #7 twice and #9: {chart}");

    let other = views::dashboard(&store, &chrome(), ForgeName::GitHub, "acme/other", now)
        .await
        .expect("renders");
    assert!(other.is_none(), "a repository never seen has no dashboard");
}
