//! The `/sdl` grammar and its authorisation rules: table-driven parser tests, property tests
//! (random text never panics; every valid command round-trips through its text), and the
//! waiver rules (author, bot, outsider, reason length, duration cap).

mod common;

use chrono::Duration;
use common::*;
use proptest::prelude::*;
use sdl_gate::commands::{
    Actor, Command, CommandErrorKind, Expiry, Permission, Refusal, grant_waiver,
    may_record_threat_model, may_unwaive, parse_comment,
};
use sdl_gate::gates::GateKind;
use sdl_gate::snapshot::Login;

fn one(body: &str) -> Result<Command, sdl_gate::commands::CommandError> {
    let mut all = parse_comment(body);
    assert_eq!(
        all.len(),
        1,
        "expected one command in {body:?}, got {all:?}"
    );
    all.remove(0).map(|(_, c)| c)
}

#[test]
fn parses_every_command() {
    let cases: Vec<(&str, Command)> = vec![
        ("/sdl help", Command::Help),
        ("/SDL Status", Command::Status),
        ("  /sdl recheck", Command::Recheck),
        (
            "/sdl unwaive sast",
            Command::Unwaive {
                gate: GateKind::Sast,
            },
        ),
        (
            "/sdl explain SR-2",
            Command::Explain {
                topic: "SR-2".into(),
            },
        ),
        (
            "/sdl threat-model https://tm.example.com/12",
            Command::ThreatModel {
                reference: "https://tm.example.com/12".into(),
            },
        ),
        (
            "/sdl threat-model #12",
            Command::ThreatModel {
                reference: "#12".into(),
            },
        ),
        (
            "/sdl waive sast false positive: input is a constant, see SEC-9",
            Command::Waive {
                gate: GateKind::Sast,
                expiry: Expiry::Default,
                reason: "false positive: input is a constant, see SEC-9".into(),
            },
        ),
        (
            "/sdl waive dependencies --for 14d no fix upstream yet, tracked in SEC-10",
            Command::Waive {
                gate: GateKind::Dependencies,
                expiry: Expiry::For { hours: 14 * 24 },
                reason: "no fix upstream yet, tracked in SEC-10".into(),
            },
        ),
        (
            "/sdl waive threat-model --until=2027-01-31 model review booked for January",
            Command::Waive {
                gate: GateKind::ThreatModel,
                expiry: Expiry::Until(
                    chrono::NaiveDate::from_ymd_opt(2027, 1, 31).unwrap_or_default(),
                ),
                reason: "model review booked for January".into(),
            },
        ),
        (
            "/sdl waive sast --for 48h hotfix",
            Command::Waive {
                gate: GateKind::Sast,
                expiry: Expiry::For { hours: 48 },
                reason: "hotfix".into(),
            },
        ),
    ];
    for (text, expect) in cases {
        match one(text) {
            Ok(c) => assert_eq!(c, expect, "{text}"),
            Err(e) => panic!("{text}: {e}"),
        }
    }
}

#[test]
fn errors_carry_position_and_suggestion() {
    let cases: Vec<(&str, CommandErrorKind, usize, Option<&str>)> = vec![
        ("/sdl", CommandErrorKind::Missing, 5, Some("/sdl help")),
        (
            "/sdl wave sast because",
            CommandErrorKind::Unknown("wave".into()),
            6,
            Some("/sdl waive"),
        ),
        (
            "/sdl rechek",
            CommandErrorKind::Unknown("rechek".into()),
            6,
            Some("/sdl recheck"),
        ),
        (
            "/sdl frobnicate",
            CommandErrorKind::Unknown("frobnicate".into()),
            6,
            Some("/sdl help"),
        ),
        (
            "/sdl waive sats a reason",
            CommandErrorKind::UnknownGate("sats".into()),
            12,
            Some("/sdl waive sast a reason"),
        ),
        (
            "/sdl waive sast",
            CommandErrorKind::MissingArgument {
                command: "waive",
                what: "a reason",
            },
            17,
            None,
        ),
        (
            "/sdl waive sast --for 2x reason",
            CommandErrorKind::BadDuration("2x".into()),
            17,
            Some("/sdl waive sast --for 14d <reason>"),
        ),
        (
            "/sdl waive sast --until 31.01.2027 reason",
            CommandErrorKind::BadDate("31.01.2027".into()),
            17,
            None,
        ),
        (
            "/sdl waive sast --fro 3d reason",
            CommandErrorKind::UnknownOption("--fro".into()),
            17,
            Some("--for …"),
        ),
        (
            "/sdl help me",
            CommandErrorKind::UnexpectedArgument {
                command: "help",
                extra: "me".into(),
            },
            11,
            Some("/sdl help"),
        ),
        (
            "  /sdl explain",
            CommandErrorKind::MissingArgument {
                command: "explain",
                what: "a gate or a requirement id such as SR-2",
            },
            16,
            None,
        ),
    ];
    for (text, kind, column, suggestion) in cases {
        match one(text) {
            Ok(c) => panic!("{text}: parsed as {c:?}"),
            Err(e) => {
                assert_eq!(e.kind, kind, "{text}");
                assert_eq!(e.column, column, "{text}: column");
                assert_eq!(e.line, 1);
                if let Some(s) = suggestion {
                    assert_eq!(
                        e.suggestion.as_deref().map(|x| x.starts_with(s)),
                        Some(true),
                        "{text}: {:?}",
                        e.suggestion
                    );
                }
            }
        }
    }
}

#[test]
fn code_quotes_and_prose_are_not_commands() {
    let body = "Thanks! Quoting alice:\n> /sdl waive sast she said so\n\n```\n/sdl waive sast in a fence\n```\n~~~md\n/sdl recheck\n~~~\n    /sdl help (indented code)\nInline `/sdl waive sast x` is prose.\nPlease do not /sdl recheck mid-line.\n/sdlfoo is not a command\n\n/sdl status\n";
    let all = parse_comment(body);
    assert_eq!(all.len(), 1, "{all:?}");
    match &all[0] {
        Ok((line, Command::Status)) => assert_eq!(*line, 15),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_double_dash_ends_the_options_so_a_reason_may_start_with_dashes() {
    // Found by the round-trip property: a reason of `--` printed as `/sdl waive gate --`,
    // which read back as an unknown option.
    let waive = |expiry, reason: &str| Command::Waive {
        gate: GateKind::ThreatModel,
        expiry,
        reason: reason.into(),
    };
    assert_eq!(
        one("/sdl waive threat_model -- --"),
        Ok(waive(Expiry::Default, "--"))
    );
    assert_eq!(
        one("/sdl waive threat_model --for 2d -- --until is part of the reason"),
        Ok(waive(
            Expiry::For { hours: 48 },
            "--until is part of the reason"
        ))
    );
    let printed = waive(Expiry::For { hours: 48 }, "--x reason").to_string();
    assert_eq!(printed, "/sdl waive threat_model --for 2d -- --x reason");
    assert_eq!(
        one(&printed),
        Ok(waive(Expiry::For { hours: 48 }, "--x reason"))
    );
    // Without the marker an unknown option is still an error, and so is a missing reason.
    let unknown = one("/sdl waive threat_model --x reason");
    assert!(
        matches!(&unknown, Err(e) if matches!(&e.kind, CommandErrorKind::UnknownOption(o) if o == "--x")),
        "{unknown:?}"
    );
    let missing = one("/sdl waive threat_model --");
    assert!(
        matches!(&missing, Err(e) if matches!(e.kind, CommandErrorKind::MissingArgument { what: "a reason", .. })),
        "{missing:?}"
    );
}

#[test]
fn several_commands_in_one_comment() {
    let all = parse_comment("/sdl recheck\nsome words\n/sdl explain sast\n/sdl nope");
    assert_eq!(all.len(), 3);
    assert!(matches!(all[0], Ok((1, Command::Recheck))));
    assert!(matches!(&all[1], Ok((3, Command::Explain { topic })) if topic == "sast"));
    assert!(matches!(&all[2], Err(e) if e.line == 4));
}

fn valid_command() -> impl Strategy<Value = Command> {
    let gate = prop::sample::select(GateKind::ALL.to_vec());
    let reason = "(--)?[a-zA-Z0-9:,.-]{1,12}( [a-zA-Z0-9:,.-]{1,12}){0,6}";
    prop_oneof![
        Just(Command::Help),
        Just(Command::Status),
        Just(Command::Recheck),
        gate.clone().prop_map(|gate| Command::Unwaive { gate }),
        "[A-Z]{2,3}-[0-9]".prop_map(|topic| Command::Explain { topic }),
        "#[0-9]{1,5}".prop_map(|reference| Command::ThreatModel { reference }),
        (
            gate,
            prop_oneof![
                Just(Expiry::Default),
                (1u32..2000).prop_map(|hours| Expiry::For { hours })
            ],
            reason
        )
            .prop_map(|(gate, expiry, reason)| Command::Waive {
                gate,
                expiry,
                reason
            }),
    ]
}

proptest! {
    #[test]
    fn random_text_never_panics(s in "\\PC{0,400}") {
        let _ = parse_comment(&s);
    }

    #[test]
    fn random_command_lines_never_panic(s in "/sdl[ a-z_\\-0-9=.#:/]{0,80}") {
        for parsed in parse_comment(&s) {
            if let Err(e) = parsed {
                prop_assert!(e.column >= 1);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn valid_commands_round_trip(cmd in valid_command()) {
        let text = cmd.to_string();
        let parsed = parse_comment(&text);
        prop_assert_eq!(parsed.len(), 1);
        match &parsed[0] {
            Ok((_, c)) => prop_assert_eq!(c, &cmd),
            Err(e) => prop_assert!(false, "{} did not parse: {}", text, e),
        }
    }
}

fn actor(login: &str) -> Actor {
    Actor {
        login: Login::new(login),
        bot: false,
        permission: Some(Permission::Write),
    }
}

fn waive(gate: GateKind, expiry: Expiry, reason: &str) -> Command {
    Command::Waive {
        gate,
        expiry,
        reason: reason.into(),
    }
}

const REASON: &str = "false positive: the query is built from constants only";

#[test]
fn waiver_rules() {
    let p = base_policy();
    let s = change(&["src/auth/login.rs"]);
    // carol is in acme/security, the waiver team.
    let w = match grant_waiver(
        &p,
        &s,
        &actor("carol"),
        &waive(GateKind::Sast, Expiry::For { hours: 24 * 14 }, REASON),
        Some(5),
        now(),
    ) {
        Ok(w) => w,
        Err(e) => panic!("carol may waive: {e}"),
    };
    assert_eq!(w.expires_at, now() + Duration::days(14));
    assert_eq!(w.author, Login::new("carol"));
    assert_eq!(w.sha.as_str(), HEAD);
    assert_eq!(w.comment_id, Some(5));
    // Default duration is the policy maximum.
    let w = grant_waiver(
        &p,
        &s,
        &actor("carol"),
        &waive(GateKind::Sast, Expiry::Default, REASON),
        None,
        now(),
    );
    assert_eq!(w.map(|w| w.expires_at), Ok(now() + Duration::days(30)));

    let refusals: Vec<(&str, Actor, Command, Refusal)> = vec![
        (
            "author, though in the team",
            actor("bob"),
            waive(GateKind::Sast, Expiry::Default, REASON),
            Refusal::OwnChange,
        ),
        (
            "bot",
            Actor {
                login: Login::new("helper[bot]"),
                bot: true,
                permission: Some(Permission::Admin),
            },
            waive(GateKind::Sast, Expiry::Default, REASON),
            Refusal::Bot,
        ),
        (
            "outsider",
            actor("mallory"),
            waive(GateKind::Sast, Expiry::Default, REASON),
            Refusal::NotAllowed {
                allowed: "members of acme/security".into(),
            },
        ),
        (
            "short reason",
            actor("carol"),
            waive(GateKind::Sast, Expiry::Default, "because"),
            Refusal::ReasonTooShort { min: 20, got: 7 },
        ),
        (
            "too long",
            actor("carol"),
            waive(GateKind::Sast, Expiry::For { hours: 24 * 45 }, REASON),
            Refusal::TooLong {
                max_days: 30,
                asked_days: 45,
            },
        ),
        (
            "in the past",
            actor("carol"),
            waive(
                GateKind::Sast,
                Expiry::Until(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default()),
                REASON,
            ),
            Refusal::InPast,
        ),
    ];
    for (name, who, cmd, expect) in refusals {
        assert_eq!(
            grant_waiver(&p, &s, &who, &cmd, None, now()),
            Err(expect),
            "{name}"
        );
    }

    // Membership that could not be resolved refuses (fail closed).
    let mut unknown = s.clone();
    unknown.teams.clear();
    assert!(matches!(
        grant_waiver(
            &p,
            &unknown,
            &actor("carol"),
            &waive(GateKind::Sast, Expiry::Default, REASON),
            None,
            now()
        ),
        Err(Refusal::MembershipUnknown(_))
    ));

    // A minimum permission lets maintainers waive.
    let mut by_perm = p.clone();
    by_perm.waivers.min_permission = Some("maintain".into());
    let maint = Actor {
        login: Login::new("mia"),
        bot: false,
        permission: Some(Permission::Maintain),
    };
    assert!(
        grant_waiver(
            &by_perm,
            &s,
            &maint,
            &waive(GateKind::Sast, Expiry::Default, REASON),
            None,
            now()
        )
        .is_ok()
    );
    // A gate the policy keeps unwaivable.
    let mut locked = p.clone();
    locked.waivers.gates = Some(vec![GateKind::Dependencies]);
    assert_eq!(
        grant_waiver(
            &locked,
            &s,
            &actor("carol"),
            &waive(GateKind::Sast, Expiry::Default, REASON),
            None,
            now()
        ),
        Err(Refusal::GateNotWaivable(GateKind::Sast))
    );
}

#[test]
fn unwaive_and_threat_model_rules() {
    let p = base_policy();
    let mut s = change(&["src/auth/login.rs"]);
    assert_eq!(
        may_unwaive(&p, &s, &actor("carol"), GateKind::Sast, now()),
        Err(Refusal::NothingToUnwaive(GateKind::Sast))
    );
    s.waivers.push(waiver(GateKind::Sast, 1, 14, HEAD));
    assert_eq!(
        may_unwaive(&p, &s, &actor("carol"), GateKind::Sast, now()),
        Ok(())
    );
    assert_eq!(
        may_unwaive(&p, &s, &actor("bob"), GateKind::Sast, now()),
        Err(Refusal::OwnChange)
    );

    let reader = Actor {
        login: Login::new("rita"),
        bot: false,
        permission: Some(Permission::Read),
    };
    assert_eq!(
        may_record_threat_model(&p, &s, &actor("bob"), "https://tm.example.com/1"),
        Ok(()),
        "the author may"
    );
    assert_eq!(
        may_record_threat_model(&p, &s, &reader, "https://tm.example.com/1"),
        Err(Refusal::ThreatModelNotAllowed)
    );
    assert_eq!(
        may_record_threat_model(&p, &s, &actor("bob"), "https://elsewhere.example/1"),
        Err(Refusal::ReferenceNotAccepted(
            "https://elsewhere.example/1".into()
        ))
    );
}

#[test]
fn replies_quote_explain_and_escape() {
    use sdl_gate::capabilities::Capabilities;
    use sdl_gate::render::replies;
    let help = replies::help(&base_policy(), Capabilities::GITHUB);
    assert!(help.contains("members of acme/security"), "{help}");
    assert!(help.contains("at most 30 days"));
    assert!(help.contains("never the change's author"));
    assert!(help.contains("Editing or deleting a comment that granted a waiver revokes"));
    // GitLab reports no deleted note: its help must not promise that deleting revokes.
    let gitlab = replies::help(&base_policy(), Capabilities::GITLAB);
    assert!(gitlab.contains("deleting it does not"), "{gitlab}");
    assert!(!gitlab.contains("Editing or deleting"), "{gitlab}");

    let err = match one("/sdl wave sast @team <b>") {
        Err(e) => e,
        Ok(c) => panic!("parsed {c:?}"),
    };
    let reply = replies::malformed(&err);
    assert!(
        reply.contains("`/sdl wave sast @team <b>`"),
        "the line is quoted as code: {reply}"
    );
    assert!(reply.contains("Did you mean `/sdl waive`?"), "{reply}");
    assert!(reply.contains("column 6"));

    let reply = replies::refused(
        "/sdl waive sast ok",
        &Refusal::NotAllowed {
            allowed: "members of @acme/sec".into(),
        },
    );
    assert!(
        !reply.contains("@acme"),
        "mentions in refusals are broken: {reply}"
    );
    assert!(reply.contains("Refused `/sdl waive sast ok`"));
}

#[test]
fn explain_replies_name_the_requirement_and_gates() {
    use sdl_gate::practices::explain;
    use sdl_gate::render::replies;
    let sr2 = match explain("SR-2") {
        Ok(e) => replies::explain(&e),
        Err(e) => panic!("{e}"),
    };
    assert!(sr2.contains("IEC 62443-4-1 SR-2 — Threat model"), "{sr2}");
    assert!(sr2.contains("`threat_model` (primary evidence)"), "{sr2}");
    let sast = match explain("sast") {
        Ok(e) => replies::explain(&e),
        Err(e) => panic!("{e}"),
    };
    assert!(sast.contains("**SI-1**"), "{sast}");
    assert!(sast.contains("Satisfied when"), "{sast}");
    let cwe = match explain("CWE-89") {
        Ok(e) => replies::explain(&e),
        Err(e) => panic!("{e}"),
    };
    assert!(cwe.contains("FR3"), "{cwe}");
}
