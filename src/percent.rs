//! Percent-encoding for the paths and query values sdl-gate builds: one rule (RFC 3986's
//! unreserved characters stay, every other byte becomes `%XX`) for the forge clients, the
//! pages' links and the sign-in's redirects. A leaf module, so every layer may use it.

/// Percent-encodes one path segment or query value: `feature/x` becomes `feature%2Fx`.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes each segment of a path, keeping its `/` separators (a file path, a GitLab
/// project path with subgroups).
pub fn encode_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_per_segment() {
        assert_eq!(
            encode_path("docs/threat model/a#b.md"),
            "docs/threat%20model/a%23b.md"
        );
        assert_eq!(encode("feature/x"), "feature%2Fx");
        assert_eq!(encode("a-b_c.d~é"), "a-b_c.d~%C3%A9");
    }
}
