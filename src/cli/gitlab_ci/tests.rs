//! The forge-generic path with a recording stand-in for the GitLab client (until the
//! real client and the fake GitLab over loopback land, which should replace it): what is
//! read through the API, what is published, and that a refused write does not change the
//! verdict.

use sdl_gate::forge_name::ForgeName;
use std::sync::Mutex;

use sdl_gate::forge::{
    ChangeHead, ChangeState, CommentAction, Conclusion, ForgeError, Notice, PolicyFile,
    Publication, Published, StickyPlan,
};
use sdl_gate::snapshot::{ChangedFile, Login, Snapshot, TeamSlug};

use super::client::connect_failed;
use super::*;

const HEAD: &str = "1111111111111111111111111111111111111111";
const MOVED: &str = "2222222222222222222222222222222222222222";
const POLICY: &str = "version: 1\nsecurity_paths: [\"src/auth/**\"]\ngates:\n  security_review: { reviewers: { users: [\"carol\"] } }\n  sast: { threshold: high }\n";
const SARIF_CLEAN: &str =
    r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Semgrep"}},"results":[]}]}"#;

struct Recording {
    api_head: String,
    policy: Option<PolicyFile>,
    files: Vec<&'static str>,
    publish_fails: bool,
    published: Mutex<Vec<(ChangeRef, Publication)>>,
}

impl Recording {
    fn new(api_head: &str) -> Self {
        Recording {
            api_head: api_head.to_string(),
            policy: Some(PolicyFile {
                path: ".gitlab/sdl-gate.yml".into(),
                git_ref: "main".into(),
                text: POLICY.into(),
            }),
            files: vec!["docs/guide.md"],
            publish_fails: false,
            published: Mutex::new(Vec::new()),
        }
    }
}

impl Forge for Recording {
    fn capabilities(&self) -> sdl_gate::publication::Capabilities {
        sdl_gate::publication::Capabilities::GITLAB
    }

    async fn head(&self, _: &ChangeRef) -> Result<ChangeHead, ForgeError> {
        Ok(ChangeHead {
            title: "From the API".into(),
            author: Login::new("bob"),
            body: String::new(),
            labels: Vec::new(),
            draft: false,
            head_sha: Sha::new(self.api_head.clone()),
            base_ref: "main".into(),
            state: ChangeState::Open,
            changed_files: Some(self.files.len() as u64),
            comments: Some(0),
            merge_commit_sha: None,
            head_branch: None,
        })
    }
    async fn policy(
        &self,
        _: &ChangeRef,
        _: &str,
        _: &[&str],
    ) -> Result<Option<PolicyFile>, ForgeError> {
        Ok(self.policy.clone())
    }
    async fn snapshot(
        &self,
        change: &ChangeRef,
        head: &ChangeHead,
        _: &Needs,
    ) -> Result<Snapshot, ForgeError> {
        let mut s = Snapshot::new(
            Some(ForgeName::GitLab),
            &change.repository,
            change.number,
            head.author.as_str(),
            head.head_sha.as_str(),
        );
        s.files = self
            .files
            .iter()
            .map(|f| ChangedFile::modified(*f))
            .collect();
        Ok(s)
    }
    async fn publish(
        &self,
        change: &ChangeRef,
        publication: &Publication,
    ) -> Result<Published, ForgeError> {
        if self.publish_fails {
            return Err(ForgeError::Forbidden {
                what: "POST /projects/acme%2Fplc/statuses/1111111: 403".into(),
            });
        }
        if let Ok(mut p) = self.published.lock() {
            p.push((change.clone(), publication.clone()));
        }
        Ok(Published {
            check_id: Some(1),
            check_created: true,
            conclusion: publication.conclusion,
            comment_id: None,
            comment: CommentAction::Skipped,
        })
    }
    async fn publish_notice(
        &self,
        _: &ChangeRef,
        _: &Sha,
        _: &Notice,
        _: &PublishOptions,
    ) -> Result<Published, ForgeError> {
        Err(ForgeError::Config {
            what: "not used by the CI job".into(),
        })
    }
    async fn team_member(
        &self,
        _: &ChangeRef,
        _: &TeamSlug,
        _: &Login,
    ) -> Result<bool, ForgeError> {
        Ok(false)
    }
}

fn setup(dir: &Path, extra: &[(&str, &str)]) -> (CiContext, Settings) {
    let mut env: BTreeMap<String, String> = [
        ("CI_MERGE_REQUEST_IID", "7"),
        ("CI_PROJECT_PATH", "acme/plc"),
        ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
        ("CI_COMMIT_SHA", HEAD),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ("CI_JOB_URL", "https://gitlab.example.com/acme/plc/-/jobs/9"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.insert("CI_PROJECT_DIR".into(), dir.display().to_string());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let ctx = CiContext::from_env(&env).unwrap_or_else(|e| panic!("{e}"));
    let settings = Settings::from_env(&env).unwrap_or_else(|e| panic!("{e}"));
    (ctx, settings)
}

fn tempdir_with_report() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    fs::write(dir.path().join("semgrep.sarif"), SARIF_CLEAN)
        .unwrap_or_else(|e| panic!("write: {e}"));
    dir
}

#[tokio::test]
async fn api_policy_and_snapshot_are_used_and_the_status_is_published_for_the_pipeline_commit() {
    let dir = tempdir_with_report();
    let (ctx, settings) = setup(dir.path(), &[]);
    let forge = Recording::new(MOVED);
    let code = match job(&ctx, &settings, Some(&forge), Vec::new()).await {
        Ok(c) => c,
        Err(Misconfigured(m)) => panic!("{m}"),
    };
    assert_eq!(code, 0);
    let published = forge
        .published
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    assert_eq!(published.len(), 1);
    let (change, publication) = &published[0];
    assert_eq!(change.repository, "acme/plc");
    assert_eq!(change.number, 7);
    assert_eq!(
        publication.head_sha.as_str(),
        HEAD,
        "the status goes on the commit the pipeline tested"
    );
    assert_eq!(publication.conclusion, Conclusion::Success);
    assert!(!publication.skip_check_run);
    assert_eq!(
        publication.sticky,
        StickyPlan::UpdateOnly,
        "the policy's default (on_failure): a passing change posts no note"
    );
    assert_eq!(
        publication.details_url.as_deref(),
        Some("https://gitlab.example.com/acme/plc/-/jobs/9")
    );
    let result = fs::read_to_string(dir.path().join(RESULT_FILE)).unwrap_or_default();
    assert!(result.contains("moved on to 2222222"), "{result}");
}

#[tokio::test]
async fn settings_decide_what_is_published_and_a_refused_write_keeps_the_verdict() {
    let dir = tempdir_with_report();
    let (ctx, settings) = setup(
        dir.path(),
        &[("SDL_GATE_STATUS", "false"), ("SDL_GATE_COMMENT", "never")],
    );
    let forge = Recording::new(HEAD);
    let code = match job(&ctx, &settings, Some(&forge), Vec::new()).await {
        Ok(c) => c,
        Err(Misconfigured(m)) => panic!("{m}"),
    };
    assert_eq!(code, 0);
    assert!(
        forge
            .published
            .lock()
            .map(|p| p.is_empty())
            .unwrap_or(false),
        "nothing asked to be published"
    );

    let (ctx, settings) = setup(dir.path(), &[("SDL_GATE_COMMENT", "always")]);
    let mut forge = Recording::new(HEAD);
    forge.publish_fails = true;
    forge.files = vec!["src/auth/login.rs"];
    let code = match job(&ctx, &settings, Some(&forge), Vec::new()).await {
        Ok(c) => c,
        Err(Misconfigured(m)) => panic!("{m}"),
    };
    assert_eq!(
        code, 1,
        "the threat model gate fails whether or not the status is written"
    );
    let summary = fs::read_to_string(dir.path().join(SUMMARY_FILE)).unwrap_or_default();
    assert!(
        summary.contains("could not write the commit status or MR note"),
        "{summary}"
    );
}

#[tokio::test]
async fn no_policy_on_the_target_branch_is_a_misconfiguration() {
    let dir = tempdir_with_report();
    let (ctx, settings) = setup(dir.path(), &[]);
    let mut forge = Recording::new(HEAD);
    forge.policy = None;
    match job(&ctx, &settings, Some(&forge), Vec::new()).await {
        Ok(c) => panic!("exit {c} without a policy"),
        Err(Misconfigured(m)) => {
            assert!(m.starts_with("CI_MERGE_REQUEST_TARGET_BRANCH_NAME:"), "{m}")
        }
    }
}

#[test]
fn refused_token_is_a_misconfiguration_and_outage_falls_back() {
    let mut unknowns = Vec::new();
    let e = ForgeError::Unauthorized {
        what: "GET /user".into(),
    };
    match connect_failed(e, "SDL_GATE_GITLAB_TOKEN", &mut unknowns) {
        Err(Misconfigured(m)) => assert!(m.starts_with("SDL_GATE_GITLAB_TOKEN:"), "{m}"),
        Ok(_) => panic!("a refused token must not be ignored"),
    }
    let e = ForgeError::Transient {
        what: "connection refused".into(),
    };
    match connect_failed(e, "SDL_GATE_GITLAB_TOKEN", &mut unknowns) {
        Ok(None) => assert!(unknowns[0].contains("connection refused"), "{unknowns:?}"),
        _ => panic!("an outage falls back to the checkout"),
    }
}
