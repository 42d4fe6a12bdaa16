//! `sdl-gate demo` as a newcomer runs it: the built binary, no settings, no network. It must
//! exit 0 and print the failing evaluation, then the passing one, with the 62443-4-1 IDs, the
//! sticky comment and the requests the service made to its local GitHub.

use std::process::Command;

#[test]
fn the_demo_shows_a_failing_then_a_passing_evaluation() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let out = Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        // A setting in the caller's environment must not leak into the demo's service.
        .env("SDL_GATE_DATABASE_URL", "postgres://nowhere.invalid/none")
        .env("SDL_GATE_GITLAB_URL", "http://127.0.0.1:9")
        .output()
        .expect("running sdl-gate demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let fail = stdout
        .find("check run sdl-gate: failure — 1 SDL gate(s) block: threat_model")
        .unwrap_or_else(|| panic!("no failing check run in:\n{stdout}"));
    let pass = stdout
        .find("check run sdl-gate: success — All SDL gates pass")
        .unwrap_or_else(|| panic!("no passing check run in:\n{stdout}"));
    assert!(fail < pass, "the failure comes first:\n{stdout}");
    let (step1, step2) = stdout.split_at(pass);
    assert!(
        step1.contains("| Threat model | ❌ blocks | SR-2, SD-1, SD-2, SD-3 |"),
        "the comment maps the gate to 62443-4-1:\n{step1}"
    );
    assert!(
        step1.contains("from team acme/security"),
        "says who must approve:\n{step1}"
    );
    assert!(
        step2.contains("| Security review | ✅ pass |"),
        "carol's approval counts:\n{step2}"
    );
    assert!(
        step2.contains("PATCH /repos/acme/plant-controller/issues/comments/"),
        "the sticky comment is edited, not posted again:\n{step2}"
    );
    assert!(
        step2.contains("GET /orgs/acme/teams/security/memberships/carol -> 200"),
        "team membership is read from the forge:\n{step2}"
    );
    assert!(
        step1.contains("POST /app/installations/100/access_tokens -> 201"),
        "the App authenticates with the key the demo generated:\n{step1}"
    );
    // The database the demo's service wrote is the one in --dir, not the caller's setting.
    assert!(
        dir.path().join("sdl-gate.db").is_file(),
        "the SQLite file is kept in --dir"
    );
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert!(
        !log.contains("GitLab enabled"),
        "the caller's GitLab setting leaked into the demo:\n{log}"
    );
    let key = std::fs::metadata(dir.path().join("demo-app-key.pem")).expect("key kept in --dir");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o077,
        0,
        "the key is readable by its owner only"
    );
}
