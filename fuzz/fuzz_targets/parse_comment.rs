//! Fuzzes the `/sdl` comment parser: any text must parse without panicking; every command it
//! finds must print as canonical text that parses back to the same command; every error must
//! carry a 1-based position and render as a reply that starts with our own text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sdl_gate::commands::parse_comment;
use sdl_gate::render::replies;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in parse_comment(body) {
        match parsed {
            Ok((line, cmd)) => {
                assert!(line >= 1, "line numbers are 1-based");
                let text = cmd.to_string();
                let again = parse_comment(&text);
                assert_eq!(again.len(), 1, "{text:?} is one command");
                match &again[0] {
                    Ok((1, back)) => assert_eq!(back, &cmd, "{text:?} round-trips"),
                    other => panic!("{text:?} did not parse back: {other:?}"),
                }
            }
            Err(e) => {
                assert!(e.line >= 1 && e.column >= 1, "positions are 1-based: {e:?}");
                let reply = replies::malformed(&e);
                // What the user wrote is quoted inside: the reply's start is always ours, so it
                // can never pose as the sticky comment or another reply (found by their start).
                assert!(reply.starts_with("⚠️ I could not run `"), "{reply:?}");
            }
        }
    }
});
