//! Threat-model link patterns (`gates.threat_model.link_patterns`) matched as URL match
//! patterns, not file globs.
//!
//! A reference such as `https://tm.example.com/models/42` is a URL, so its pattern follows the
//! URL match-pattern conventions of WebExtension match patterns and WHATWG URLPattern:
//! - the scheme is exact (`*` stands for `http` or `https`);
//! - the host is exact, case-insensitive; a leading `*.` matches the domain and its
//!   subdomains (`*.example.com` matches `example.com` and `tm.example.com`, never
//!   `example.com.evil.example`); `*` alone matches any host;
//! - the port is exact: no port in the pattern means the scheme's default port;
//! - in the path (with query and fragment), `*` matches any characters, `/` included; a
//!   pattern without a path accepts only the site root.
//!
//! References are read strictly, so that no spelling reaches another site or escapes the
//! path: user information (`https://tm.example.com@evil.example/`), backslashes,
//! percent-encoded or non-ASCII host characters, percent-encoded `/`, `\` or `.` in the path,
//! `.`/`..` segments, white space and control characters are refused. Patterns without `://`
//! (`#*` for an issue of this repository) keep the glob rules of [`GlobPattern`].

use std::fmt;

use super::glob::GlobPattern;

/// Which part of a reference did not match a pattern, or why the reference is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkMismatch {
    /// The reference is no URL sdl-gate accepts (the reason says what was refused).
    Refused(String),
    /// The pattern itself is not a valid URL pattern.
    BadPattern(String),
    /// The scheme differs.
    Scheme {
        /// The reference's scheme.
        got: String,
        /// The pattern's scheme.
        want: String,
    },
    /// The host differs.
    Host {
        /// The reference's host.
        got: String,
        /// The pattern's host.
        want: String,
    },
    /// The port differs.
    Port {
        /// The reference's port (`default` when none).
        got: String,
        /// The pattern's port (`default` when none).
        want: String,
    },
    /// The path (with query and fragment) differs.
    Path {
        /// The reference's path.
        got: String,
        /// The pattern's path.
        want: String,
    },
    /// A glob pattern (`#*`) did not match.
    Glob,
}

impl fmt::Display for LinkMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkMismatch::Refused(why) => write!(f, "refused: {why}"),
            LinkMismatch::BadPattern(why) => write!(f, "the pattern is not a URL pattern: {why}"),
            LinkMismatch::Scheme { got, want } => write!(f, "scheme `{got}` is not `{want}`"),
            LinkMismatch::Host { got, want } => write!(f, "host `{got}` does not match `{want}`"),
            LinkMismatch::Port { got, want } => write!(f, "port {got} is not {want}"),
            LinkMismatch::Path { got, want } => write!(f, "path `{got}` does not match `{want}`"),
            LinkMismatch::Glob => f.write_str("the reference does not match this pattern"),
        }
    }
}

/// A URL split into the parts patterns compare. Parts are kept as written (hosts lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts<'a> {
    scheme: String,
    host: String,
    port: Option<&'a str>,
    path: &'a str,
}

/// Splits `scheme://host[:port][/path]`; `pattern` allows `*` in the scheme and host.
fn split(text: &str, pattern: bool) -> Result<Parts<'_>, String> {
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || *c == '\\')
    {
        return Err(format!("it contains {c:?}"));
    }
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| "it is not an absolute URL (`scheme://host/…`)".to_owned())?;
    let scheme_ok = !scheme.is_empty()
        && (pattern && scheme == "*"
            || scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.'));
    if !scheme_ok {
        return Err(format!("scheme `{scheme}` is not a URL scheme"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return Err("it carries user information (`…@host`), which hides the real host".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 5)
    {
        return Err(format!("port `{p}` is not a number"));
    }
    let host_body = if pattern {
        host.strip_prefix("*.").unwrap_or(host)
    } else {
        host
    };
    let host_ok = (pattern && host == "*")
        || (!host_body.is_empty()
            && !host_body.starts_with('.')
            && !host_body.ends_with('.')
            && !host_body.contains("..")
            && host_body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    if !host_ok {
        return Err(format!(
            "host `{host}` is not a plain host name (letters, digits, `-`, `.`{})",
            if pattern { ", a leading `*.`" } else { "" }
        ));
    }
    if !pattern {
        let lower = path.to_ascii_lowercase();
        for enc in ["%2f", "%5c", "%2e"] {
            if lower.contains(enc) {
                return Err(format!(
                    "the path hides a separator or dot as `{}`",
                    &path[lower.find(enc).unwrap_or(0)..][..3]
                ));
            }
        }
        let only_path = path.split(['?', '#']).next().unwrap_or("");
        if only_path.split('/').any(|seg| seg == "." || seg == "..") {
            return Err("the path has `.` or `..` segments".into());
        }
    }
    Ok(Parts {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_ascii_lowercase(),
        port,
        path,
    })
}

/// The port a URL uses when it names none.
fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme {
        "http" | "ws" => Some("80"),
        "https" | "wss" => Some("443"),
        _ => None,
    }
}

/// `*` matches any run of characters (`/` included); everything else is literal.
fn wildcard(pattern: &str, text: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match pieces.split_first() {
        Some(x) => x,
        None => return text.is_empty(),
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for piece in middle {
        match remaining.find(piece) {
            Some(i) => remaining = &remaining[i + piece.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(domain) => {
            host == domain
                || host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
        }
        None => host == pattern,
    }
}

/// Matches `reference` against one pattern; `Err` says which part did not match.
pub fn match_link(pattern: &GlobPattern, reference: &str) -> Result<(), LinkMismatch> {
    let text = pattern.as_str();
    if !text.contains("://") {
        return if pattern.is_match(reference) {
            Ok(())
        } else {
            Err(LinkMismatch::Glob)
        };
    }
    let want = split(text, true).map_err(LinkMismatch::BadPattern)?;
    let got = split(reference, false).map_err(LinkMismatch::Refused)?;
    let scheme_ok = if want.scheme == "*" {
        got.scheme == "http" || got.scheme == "https"
    } else {
        got.scheme == want.scheme
    };
    if !scheme_ok {
        return Err(LinkMismatch::Scheme {
            got: got.scheme,
            want: want.scheme,
        });
    }
    if !host_matches(&want.host, &got.host) {
        return Err(LinkMismatch::Host {
            got: got.host,
            want: want.host,
        });
    }
    let port_of = |p: &Parts<'_>| p.port.or(default_port(&got.scheme)).map(str::to_owned);
    let (gp, wp) = (port_of(&got), port_of(&want));
    if gp != wp {
        let show = |p: Option<String>| p.unwrap_or_else(|| "default".into());
        return Err(LinkMismatch::Port {
            got: show(gp),
            want: show(wp),
        });
    }
    let want_path = if want.path.is_empty() { "/" } else { want.path };
    let got_path = if got.path.is_empty() { "/" } else { got.path };
    if !wildcard(want_path, got_path) {
        return Err(LinkMismatch::Path {
            got: got_path.to_owned(),
            want: want_path.to_owned(),
        });
    }
    Ok(())
}

/// Checks `reference` against every pattern: `Ok` when one matches, else each pattern with
/// the part that did not match.
pub fn check_link(
    patterns: &[GlobPattern],
    reference: &str,
) -> Result<(), Vec<(String, LinkMismatch)>> {
    let mut misses = Vec::new();
    for p in patterns {
        match match_link(p, reference) {
            Ok(()) => return Ok(()),
            Err(m) => misses.push((p.as_str().to_owned(), m)),
        }
    }
    Err(misses)
}

/// One line for the misses of [`check_link`]: "`p1`: host `a` does not match `b`; `p2`: …".
pub fn describe_misses(misses: &[(String, LinkMismatch)]) -> String {
    misses
        .iter()
        .map(|(p, m)| format!("`{}`: {m}", p.replace('`', "'")))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pat(p: &str) -> GlobPattern {
        GlobPattern::new(p).expect("test pattern compiles")
    }

    fn ok(p: &str, r: &str) -> bool {
        match_link(&pat(p), r).is_ok()
    }

    #[test]
    fn the_documented_example_accepts_nested_paths() {
        let p = "https://tm.example.com/*";
        for r in [
            "https://tm.example.com/models/42",
            "https://tm.example.com/",
            "https://TM.example.com/a/b/c?x=1#y",
            "https://tm.example.com:443/models/42",
        ] {
            assert!(ok(p, r), "{r}");
        }
        assert!(ok("#*", "#42"));
        assert!(!ok("#*", "https://tm.example.com/1"));
    }

    #[test]
    fn traps_stay_closed_and_say_which_part() {
        let p = "https://tm.example.com/*";
        let table: &[(&str, &str)] = &[
            ("https://tm.example.com@evil.example/", "user information"),
            ("https://tm.example.com%40evil.example/", "plain host name"),
            ("https://tm.example.com.evil.example/", "host"),
            ("https://evil.example/tm.example.com/", "host"),
            ("https://evil.example\\@tm.example.com/", "contains"),
            ("https://tm.example.com\\.evil.example/", "contains"),
            (
                "https://tm.example.com:8443/models/1",
                "port 8443 is not 443",
            ),
            ("http://tm.example.com/models/1", "scheme `http`"),
            ("https://tm.example.com/models%2F..%2F..%2Fadmin", "hides"),
            ("https://tm.example.com/a/../../admin", "segments"),
            ("https://tm.example.com/%2e%2e/admin", "hides"),
            ("https://tm.example.com /x", "contains"),
            ("tm.example.com/models/1", "absolute URL"),
            ("https://tm.example.com./x", "plain host name"),
            ("https://xn--tm-example.com/x", "host"),
        ];
        for (r, why) in table {
            let err = match_link(&pat(p), r).expect_err(r).to_string();
            assert!(err.contains(why), "{r}: {err}");
        }
    }

    #[test]
    fn subdomain_wildcard_and_paths() {
        let p = "https://*.example.com/models/*";
        assert!(ok(p, "https://example.com/models/1"));
        assert!(ok(p, "https://a.b.example.com/models/1/2"));
        assert!(!ok(p, "https://badexample.com/models/1"));
        assert!(!ok(p, "https://example.com.evil.example/models/1"));
        assert!(!ok(p, "https://example.com/other/1"));
        assert!(ok("https://tm.example.com", "https://tm.example.com/"));
        assert!(ok("https://tm.example.com", "https://tm.example.com"));
        assert!(!ok("https://tm.example.com", "https://tm.example.com/x"));
        assert!(ok("*://tm.example.com/*", "http://tm.example.com/x"));
        assert!(!ok("*://tm.example.com/*", "ftp://tm.example.com/x"));
        assert!(ok(
            "https://tm.example.com:8443/*",
            "https://tm.example.com:8443/x"
        ));
        assert!(!ok(
            "https://tm.example.com:8443/*",
            "https://tm.example.com/x"
        ));
        let bad = match_link(&pat("https://tm.exa mple.com/*"), "https://x/");
        assert!(matches!(bad, Err(LinkMismatch::BadPattern(_))), "{bad:?}");
    }

    proptest! {
        /// Whatever is put before or after the trusted host, a reference is accepted only when
        /// its real host is the trusted host.
        #[test]
        fn only_the_trusted_host_is_accepted(
            prefix in "[a-z0-9.@:%\\\\-]{0,12}",
            suffix in "[a-z0-9.@:%/\\\\-]{0,12}",
            path in "[a-zA-Z0-9/%._-]{0,20}",
        ) {
            let r = format!("https://{prefix}tm.example.com{suffix}/{path}");
            if ok("https://tm.example.com/*", &r) {
                let authority = r["https://".len()..].split('/').next().unwrap_or("");
                let host = authority.split(':').next().unwrap_or("");
                prop_assert_eq!(host, "tm.example.com", "{}", r);
                prop_assert!(!authority.contains('@') && !r.contains('\\'), "{}", r);
            }
        }

        /// The path wildcard accepts every path that is plain (no dot segments, no encoded
        /// separators) under the trusted host.
        #[test]
        fn every_plain_path_is_accepted(segs in proptest::collection::vec("[a-zA-Z0-9_-]{1,8}", 0..5)) {
            let r = format!("https://tm.example.com/{}", segs.join("/"));
            prop_assert!(ok("https://tm.example.com/*", &r), "{}", r);
        }
    }
}
