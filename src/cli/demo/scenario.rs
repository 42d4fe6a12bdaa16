//! The sample the demo shows: a repository with the offline example's policy on its default
//! branch, and a pull request that changes a security path. Step 1 opens it with no threat
//! model and no review (the gates fail); step 2 adds a commit that updates the threat model,
//! CI passes again and a member of the security team approves (the gates pass).

use std::collections::BTreeMap;

use super::forge::{CheckRun, File, Repo, Review};

/// The policy on `main`: the one `examples/offline/` ships (one source for both).
pub const POLICY: &str = include_str!("../../../examples/offline/sdl-gate.yml");
/// The repository.
pub const REPO: &str = "acme/plant-controller";
/// The pull request's number.
pub const NUMBER: u64 = 7;
/// The head of step 1, and of step 2.
pub const HEAD_1: &str = "1a1c0de5a5c0ffee000000000000000000000001";
/// The head after step 2's commit.
pub const HEAD_2: &str = "2b2d0c5a5a5c0ffee00000000000000000000002";
const BASE: &str = "b45e000000000000000000000000000000000000";
/// GitHub Actions' App id: CI's check runs belong to it, not to sdl-gate.
const ACTIONS_APP_ID: u64 = 15368;

const LOGIN_PATCH: &str = "@@ -10,3 +10,6 @@ pub fn login(user: &str, secret: &str) -> Session {\n     let account = directory::find(user)?;\n+    if let Some(badge) = badge::read()? {\n+        return Session::for_badge(account, badge);\n+    }\n     account.verify(secret)\n";
const THREAT_MODEL_PATCH: &str = "@@ -0,0 +1,4 @@\n+# Badge login\n+Threat: a cloned badge opens an operator session (STRIDE: spoofing).\n+Mitigation: badges carry a challenge-response chip; a PIN is asked after 8 h.\n+Owner: carol (product security)\n";

/// The repository as step 1 shows it.
pub fn initial() -> Repo {
    let mut contents = BTreeMap::new();
    contents.insert(
        "main".to_owned(),
        BTreeMap::from([(
            ".github/sdl-gate.yml".to_owned(),
            POLICY.as_bytes().to_vec(),
        )]),
    );
    Repo {
        full_name: REPO.to_owned(),
        number: NUMBER,
        title: "Badge login for the operator HMI".to_owned(),
        author: "dana".to_owned(),
        body: "Operators log in with their badge instead of a password.".to_owned(),
        base_sha: BASE.to_owned(),
        head_sha: HEAD_1.to_owned(),
        files: vec![File {
            filename: "src/auth/login.rs".to_owned(),
            patch: LOGIN_PATCH.to_owned(),
        }],
        reviews: Vec::new(),
        contents,
        teams: BTreeMap::from([("acme/security".to_owned(), vec!["carol".to_owned()])]),
        check_runs: vec![ci_run(1, HEAD_1)],
        comments: Vec::new(),
    }
}

/// The threat model step 2 adds.
const THREAT_MODEL: &str = "docs/threat-model/badge-login.md";

/// Step 2's changes: a commit that adds the threat model, CI green on it, carol's approval.
pub fn second_commit(repo: &mut Repo) {
    repo.head_sha = HEAD_2.to_owned();
    let text = THREAT_MODEL_PATCH
        .lines()
        .filter_map(|l| l.strip_prefix('+'))
        .fold(String::new(), |acc, l| acc + l + "\n");
    repo.contents.insert(
        HEAD_2.to_owned(),
        BTreeMap::from([(THREAT_MODEL.to_owned(), text.into_bytes())]),
    );
    repo.files.push(File {
        filename: THREAT_MODEL.to_owned(),
        patch: THREAT_MODEL_PATCH.to_owned(),
    });
    repo.check_runs.push(ci_run(2, HEAD_2));
    repo.reviews.push(Review {
        user: "carol".to_owned(),
        state: "APPROVED".to_owned(),
        commit_id: HEAD_2.to_owned(),
    });
}

/// CodeQL's check run on `head`, completed without findings.
fn ci_run(id: u64, head: &str) -> CheckRun {
    CheckRun {
        id,
        app_id: ACTIONS_APP_ID,
        name: "CodeQL".to_owned(),
        head_sha: head.to_owned(),
        status: "completed".to_owned(),
        conclusion: Some("success".to_owned()),
        title: Some("No new alerts".to_owned()),
        summary: Some("CodeQL found no new alerts.".to_owned()),
        ..CheckRun::default()
    }
}

/// The `pull_request` webhook payload GitHub sends for `action` at `head` (the fields the
/// service reads, with the installation that routes it).
pub fn pull_request_event(action: &str, head: &str, installation: u64) -> String {
    serde_json::json!({
        "action": action,
        "number": NUMBER,
        "pull_request": {"number": NUMBER, "head": {"sha": head}, "base": {"ref": "main"}},
        "repository": {"full_name": REPO, "id": 4_062_443, "default_branch": "main"},
        "installation": {"id": installation}
    })
    .to_string()
}
