//! The policy loader never panics, whatever text it is given.

use proptest::prelude::*;
use sdl_gate::policy::{check_policy, parse_policy};

/// Fragments that steer random text towards YAML that reaches deep into the loader.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("version: 1\n".to_string()),
        Just("gates:\n".to_string()),
        Just("  security_review:\n".to_string()),
        Just("    approvals: ".to_string()),
        Just("    reviewers: {teams: [a/b], users: [x]}\n".to_string()),
        Just("  dependencies:\n    ignore:\n      - ".to_string()),
        Just("{id: X, reason: r, until: 2027-01-01}\n".to_string()),
        Just("security_paths: [\"src/**\", \"[\"]\n".to_string()),
        Just("&a ".to_string()),
        Just("*a ".to_string()),
        Just("<<: ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("- ".to_string()),
        Just("? ".to_string()),
        Just("---\n".to_string()),
        Just("!!binary ".to_string()),
        Just("\"\\u00e9\"".to_string()),
        Just("\t".to_string()),
        "[ -~]{0,12}".prop_map(|s| s),
        "\\PC{0,6}".prop_map(|s| s),
        (0usize..12).prop_map(|n| " ".repeat(n)),
        Just("\n".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let r = parse_policy("p.yml", &text);
        if let Err(e) = r {
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn yaml_shaped_text_never_panics(parts in prop::collection::vec(fragment(), 0..60)) {
        let text: String = parts.concat();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 28);
        match check_policy("p.yml", &text, today) {
            Ok(report) => prop_assert_eq!(report.policy.version, 1),
            Err(errors) => prop_assert!(!errors.0.is_empty()),
        }
    }
}
