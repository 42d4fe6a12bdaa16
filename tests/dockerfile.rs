//! The Dockerfile's images run as the users their runners require: the GitHub Action's image
//! (`action`) has no USER, because GitHub runs Docker container actions as the image's user and
//! requires root (the workspace, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY belong to the runner's
//! user); every other image that ships (`default`, `gitlab`) switches to a non-root user.
//! `.ci/dockerfile-replay.sh` checks that the build stage builds; this checks who runs it.

const DOCKERFILE: &str = include_str!("../Dockerfile");

/// A stage: its name and its instructions (keyword upper-cased, arguments), continuation lines
/// joined and comments dropped as Docker's parser does.
struct Stage {
    name: String,
    base: String,
    instructions: Vec<(String, String)>,
}

fn stages(text: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut buf = String::new();
    for raw in text.lines() {
        let t = raw.trim();
        if t.starts_with('#') || (t.is_empty() && buf.is_empty()) {
            continue;
        }
        if let Some(head) = raw.trim_end().strip_suffix('\\') {
            buf.push_str(head);
            buf.push(' ');
            continue;
        }
        buf.push_str(raw);
        logical.push(std::mem::take(&mut buf));
    }
    let mut out: Vec<Stage> = Vec::new();
    for line in logical {
        let line = line.trim();
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let args = args.trim().to_string();
        if keyword == "FROM" {
            let words: Vec<&str> = args
                .split_whitespace()
                .filter(|w| !w.starts_with("--platform="))
                .collect();
            let name = match words.as_slice() {
                [_, as_, name, ..] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                _ => out.len().to_string(),
            };
            out.push(Stage {
                name,
                base: words.first().map(|w| w.to_string()).unwrap_or_default(),
                instructions: Vec::new(),
            });
        } else if let Some(stage) = out.last_mut() {
            stage.instructions.push((keyword, args));
        }
    }
    out
}

fn stage<'a>(all: &'a [Stage], name: &str) -> &'a Stage {
    match all.iter().find(|s| s.name == name) {
        Some(s) => s,
        None => panic!(
            "the Dockerfile has no stage {name:?} (stages: {:?})",
            all.iter().map(|s| &s.name).collect::<Vec<_>>()
        ),
    }
}

fn users(stage: &Stage) -> Vec<&str> {
    stage
        .instructions
        .iter()
        .filter(|(k, _)| k == "USER")
        .map(|(_, a)| a.as_str())
        .collect()
}

#[test]
fn the_action_image_runs_as_root_and_the_others_do_not() {
    let all = stages(DOCKERFILE);
    let action = stage(&all, "action");
    assert!(
        users(action).is_empty(),
        "the action stage must not set USER (GitHub requires root): {:?}",
        users(action)
    );
    // Its base must not bring a non-root user either (distroless' :nonroot does).
    assert!(
        !action.base.contains("nonroot") && all.iter().all(|s| s.name != action.base),
        "the action stage must start from a root image, not {}",
        action.base
    );
    assert!(
        action
            .instructions
            .iter()
            .any(|(k, a)| k == "ENTRYPOINT" && a.contains("sdl-gate")),
        "the action image runs sdl-gate"
    );

    for name in ["default", "gitlab"] {
        let s = stage(&all, name);
        let last = users(s).last().copied();
        match last {
            Some(u) => {
                let uid = u.split(':').next().unwrap_or(u);
                assert!(
                    uid != "0" && uid != "root",
                    "{name} must run as a non-root user, not {u}"
                );
            }
            None => panic!("the {name} stage sets no USER"),
        }
    }
    // `docker build .` builds the last stage: the default (serve) image.
    assert_eq!(all.last().map(|s| s.name.as_str()), Some("default"));
    assert!(
        stage(&all, "default")
            .instructions
            .iter()
            .any(|(k, a)| k == "CMD" && a.contains("serve")),
        "the default image runs `serve`"
    );
}

#[test]
fn the_parser_sees_users_where_they_are_written() {
    // The test above is only as good as its parser: a USER after a continuation line and one
    // in a comment.
    let text = "FROM a AS x\nRUN echo \\\n  USER 0\n# USER 1\nFROM b AS y\nUSER 65532:65532\n";
    let all = stages(text);
    assert!(users(stage(&all, "x")).is_empty());
    assert_eq!(users(stage(&all, "y")), ["65532:65532"]);
}
