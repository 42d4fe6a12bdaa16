//! Shared normalisation: severities, CWE ids, advisory ids, file paths and fingerprints.
//!
//! Every format parser funnels its raw values through these functions so that a CWE written
//! `external/cwe/cwe-079`, `CWE-79: Cross-site Scripting` or `79` becomes the same number, a
//! path written `file:///./src/a%20b.rs` becomes `src/a b.rs`, and identical findings get the
//! same fingerprint whatever the format.

use std::borrow::Cow;
use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::cvss;
use super::finding::{Finding, Severity};

/// Parses one CWE reference: `CWE-79`, `cwe-079`, `external/cwe/cwe-079`,
/// `CWE-327: Use of a Broken…`, `79`. `None` when there is no CWE number.
pub(crate) fn parse_cwe(raw: &str) -> Option<u32> {
    let s = raw.trim();
    let lower = s.to_ascii_lowercase();
    let digits_from = if let Some(i) = lower.rfind("cwe-") {
        &s[i + 4..]
    } else if let Some(i) = lower.rfind("cwe ") {
        &s[i + 4..]
    } else if s.bytes().all(|b| b.is_ascii_digit()) {
        s
    } else {
        return None;
    };
    let digits: String = digits_from
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|n| *n > 0)
}

/// Sorts and deduplicates CWE numbers.
pub(crate) fn tidy_cwes(cwe: &mut Vec<u32>) {
    cwe.sort_unstable();
    cwe.dedup();
}

/// True when `id` looks like an advisory id: CVE, GHSA, RUSTSEC, PYSEC, GO, OSV, GMS, MAL,
/// SNYK, GSD, DLA/DSA, RHSA, ALSA, USN, BIT…
pub(crate) fn is_advisory_id(id: &str) -> bool {
    let upper = id.to_ascii_uppercase();
    let Some((prefix, rest)) = upper.split_once('-') else {
        return false;
    };
    if rest.is_empty() {
        return false;
    }
    match prefix {
        "CVE" => {
            let mut parts = rest.split('-');
            matches!((parts.next(), parts.next(), parts.next()),
                (Some(y), Some(n), None) if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit())
                    && n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit()))
        }
        "GHSA" => {
            let parts: Vec<&str> = rest.split('-').collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| p.len() == 4 && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        }
        "RUSTSEC" | "PYSEC" | "GO" | "OSV" | "GMS" | "MAL" | "GSD" | "DLA" | "DSA" | "USN"
        | "RHSA" | "ALSA" | "ALBA" | "ELSA" | "DTSA" | "UVI" | "PSF" | "BIT" | "RLSA" | "CGA"
        | "SNYK" => {
            let first = rest.split('-').next().unwrap_or("");
            !first.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b':' || b == b'.')
                && rest.bytes().any(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// The advisory id at the start of a rule id such as Grype's `CVE-2008-0732-geronimo…`.
pub(crate) fn leading_advisory_id(rule: &str) -> Option<String> {
    if is_advisory_id(rule) {
        return Some(rule.to_owned());
    }
    // Try successively shorter dash-separated prefixes (at most 5 parts).
    let parts: Vec<&str> = rule.split('-').collect();
    (2..=parts.len().min(5)).rev().find_map(|n| {
        let candidate = parts[..n].join("-");
        is_advisory_id(&candidate).then_some(candidate)
    })
}

/// All advisory ids mentioned in free text (messages like OSV-Scanner's "also known as …").
pub(crate) fn advisory_ids_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        let token = token.trim_matches('-');
        if token.len() >= 6 && is_advisory_id(token) {
            push_unique(&mut out, token);
        }
    }
    out
}

/// Appends `id` unless an equal one (case-insensitive) is present; ignores empty strings.
pub(crate) fn push_unique(list: &mut Vec<String>, id: &str) {
    let id = id.trim();
    if !id.is_empty() && !list.iter().any(|x| x.eq_ignore_ascii_case(id)) {
        list.push(id.to_owned());
    }
}

/// Severity from a scanner word, with sdl-gate's fail-closed rule for known vulnerabilities:
/// a missing word, an unknown word or `unknown` gives `None`, so the caller can fall back to a
/// CVSS score and finally to [`Severity::High`].
pub(crate) fn vuln_word(word: Option<&str>) -> Option<Severity> {
    let w = word?.trim();
    if w.eq_ignore_ascii_case("unknown") || w.is_empty() {
        return None;
    }
    Severity::from_word(w)
}

/// Severity for a known vulnerability: the scanner's word, else the highest CVSS score among
/// `scores`/`vectors`, else [`Severity::High`] (fail closed: a known vulnerability whose
/// severity nobody rated must not slip under a `high` threshold).
pub(crate) fn vuln_severity(word: Option<Severity>, scores: &[f64], vectors: &[&str]) -> Severity {
    if let Some(s) = word {
        return s;
    }
    let best = scores
        .iter()
        .copied()
        .filter(|s| s.is_finite() && *s > 0.0)
        .chain(vectors.iter().filter_map(|v| cvss::base_score(v)))
        .fold(None, |acc: Option<f64>, s| {
            Some(acc.map_or(s, |a| a.max(s)))
        });
    best.map_or(Severity::High, Severity::from_cvss)
}

/// Makes a scanner's file reference repository-relative text: strips `file://`, a leading
/// `./`, percent-decodes, turns `\` into `/`, and strips `root` (an absolute source-root URI)
/// when the path starts with it.
pub(crate) fn normalise_path(uri: &str, root: Option<&str>) -> String {
    let trimmed = uri.trim();
    // Allocate only for what needs rewriting: this runs once per finding.
    let mut s: Cow<'_, str> = if trimmed.contains('%') {
        Cow::Owned(percent_decode(trimmed))
    } else {
        Cow::Borrowed(trimmed)
    };
    if let Some(rest) = strip_file_scheme(&s) {
        s = Cow::Owned(rest);
    }
    if s.contains('\\') {
        s = Cow::Owned(s.replace('\\', "/"));
    }
    let mut out: &str = &s;
    // Only an absolute path can start with an absolute source root.
    let absolute =
        out.starts_with('/') || out.contains("://") || out.as_bytes().get(1) == Some(&b':');
    let root_norm = match root {
        Some(r) if absolute => {
            let mut r = percent_decode(r.trim());
            if let Some(rest) = strip_file_scheme(&r) {
                r = rest;
            }
            let mut r = r.replace('\\', "/");
            if !r.is_empty() && !r.ends_with('/') {
                r.push('/');
            }
            r
        }
        _ => String::new(),
    };
    if !root_norm.is_empty()
        && let Some(rest) = out.strip_prefix(root_norm.as_str())
    {
        out = rest;
    }
    while let Some(rest) = out.strip_prefix("./") {
        out = rest;
    }
    out.to_owned()
}

/// `path` (already normalised: absolute, `/`-separated) relative to `root` (a directory, as a
/// path or `file://` URI), or `None` when it is not under the root.
pub(crate) fn under_root(path: &str, root: &str) -> Option<String> {
    let mut r = percent_decode(root.trim());
    if let Some(rest) = strip_file_scheme(&r) {
        r = rest;
    }
    let r = r.replace('\\', "/");
    let r = r.trim_end_matches('/');
    let absolute = r.starts_with('/') || r.as_bytes().get(1) == Some(&b':');
    if !absolute || r.is_empty() {
        return None;
    }
    let rest = path.strip_prefix(r)?.strip_prefix('/')?;
    let rest = rest.trim_start_matches("./");
    (!rest.is_empty()).then(|| rest.to_owned())
}

fn strip_file_scheme(s: &str) -> Option<String> {
    let lower_prefix = s.get(..5)?.to_ascii_lowercase();
    if lower_prefix != "file:" {
        return None;
    }
    let rest = &s[5..];
    let rest = rest.trim_start_matches('/');
    // `file:///C:/x` → `C:/x`; `file:///src/x` → `/src/x`; `file://./x` → `./x`
    let is_drive = rest.len() >= 2 && rest.as_bytes()[1] == b':';
    if is_drive || rest.starts_with('.') {
        Some(rest.to_owned())
    } else {
        Some(format!("/{rest}"))
    }
}

/// Decodes `%XX` escapes; leaves malformed escapes as they are and keeps invalid UTF-8
/// replaced, never failing.
pub(crate) fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// sha256 (hex) of the parts joined with `|`: the fingerprint of a finding when the tool gives
/// none. Parts are tool, rule, file, package and advisory ids — never the line number alone.
pub(crate) fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(b"|");
        }
        hasher.update(p.as_bytes());
    }
    lower_hex(&hasher.finalize())
}

/// Lower-case hex of `bytes`, as `hex::encode` writes it, into one right-sized `String`
/// (`hex::encode` collects an iterator of `char`s: this runs once per finding, and was 3% of
/// reading a 25,000-result log).
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Makes fingerprints unique within one report: the n-th repeat of a fingerprint (same rule,
/// file and message at different lines, say) gets `#n` mixed in. Stable as long as the
/// scanner reports in a stable order.
pub(crate) fn dedupe_fingerprints(findings: &mut [Finding]) {
    let mut repeats: Vec<(usize, u32)> = Vec::new();
    {
        let mut seen: HashMap<&str, u32> = HashMap::with_capacity(findings.len());
        for (i, f) in findings.iter().enumerate() {
            let n = seen.entry(f.fingerprint.as_str()).or_insert(0);
            if *n > 0 {
                repeats.push((i, *n));
            }
            *n += 1;
        }
    }
    for (i, n) in repeats {
        let f = &mut findings[i];
        f.fingerprint = fingerprint(&[&f.fingerprint, &n.to_string()]);
    }
}

/// Shortens a text for a finding message: first 2000 characters, on a char boundary.
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 2000;
    let t = text.trim();
    if t.len() <= MAX {
        return t.to_owned();
    }
    let mut end = MAX;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &t[..end])
}

/// Deepest element nesting accepted in XML input. roxmltree recurses over the tree, so a
/// hostile document nested 100 000 levels deep would overflow the stack; real CycloneDX and
/// `.tm7` files stay below 30.
pub(crate) const MAX_XML_DEPTH: usize = 256;

/// The 1-based line and column where element nesting first exceeds [`MAX_XML_DEPTH`], or
/// `None`. A conservative pre-scan: `<!…>` and `<?…?>` constructs are skipped, so markup-like
/// text inside comments can only make it stricter, never let a deep document through.
pub(crate) fn xml_too_deep(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut depth: usize = 0;
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|b| *b == b'<') {
        let start = i + off;
        let end = bytes[start..]
            .iter()
            .position(|b| *b == b'>')
            .map_or(bytes.len(), |e| start + e);
        let tag = &bytes[start..end];
        match tag.get(1) {
            Some(b'/') => depth = depth.saturating_sub(1),
            Some(b'!') | Some(b'?') => {}
            _ if tag.last() == Some(&b'/') => {}
            _ => {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    let before = &text[..start];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
                    return Some((line, column));
                }
            }
        }
        i = end.min(bytes.len());
        if i >= bytes.len() {
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_hex_is_hex_encode() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(lower_hex(&bytes), hex::encode(&bytes));
        assert_eq!(
            fingerprint(&["a", "b"]),
            hex::encode(Sha256::digest(b"a|b"))
        );
    }

    #[test]
    fn cwe_forms() {
        assert_eq!(parse_cwe("external/cwe/cwe-079"), Some(79));
        assert_eq!(parse_cwe("CWE-79"), Some(79));
        assert_eq!(
            parse_cwe("CWE-327: Use of a Broken or Risky Cryptographic Algorithm"),
            Some(327)
        );
        assert_eq!(parse_cwe("798"), Some(798));
        assert_eq!(parse_cwe("security"), None);
        assert_eq!(parse_cwe("CWE-"), None);
        assert_eq!(parse_cwe("CWE-0"), None);
    }

    #[test]
    fn advisory_ids() {
        assert!(is_advisory_id("CVE-2021-44228"));
        assert!(is_advisory_id("GHSA-m5pq-gvj9-9vr8"));
        assert!(is_advisory_id("RUSTSEC-2022-0013"));
        assert!(is_advisory_id("PYSEC-2021-76"));
        assert!(is_advisory_id("GO-2021-0053"));
        assert!(!is_advisory_id("CVE-21-1"));
        assert!(!is_advisory_id("GHSA-abc"));
        assert!(!is_advisory_id("no-unused-vars"));
        assert_eq!(
            leading_advisory_id("CVE-2008-0732-geronimo-j2ee"),
            Some("CVE-2008-0732".into())
        );
        assert_eq!(
            advisory_ids_in(
                "Package 'regex@1.5.1' is vulnerable to 'CVE-2022-24713' (also known as 'RUSTSEC-2022-0013', 'GHSA-m5pq-gvj9-9vr8')."
            ),
            vec!["CVE-2022-24713", "RUSTSEC-2022-0013", "GHSA-m5pq-gvj9-9vr8"]
        );
    }

    #[test]
    fn paths() {
        assert_eq!(normalise_path("file:///C:/code/a.c", None), "C:/code/a.c");
        assert_eq!(normalise_path("./src/a%20b.rs", None), "src/a b.rs");
        assert_eq!(
            normalise_path("file:///work/repo/src/x.rs", Some("file:///work/repo/")),
            "src/x.rs"
        );
        assert_eq!(normalise_path("src\\main\\X.java", None), "src/main/X.java");
        assert_eq!(normalise_path("bad%zzescape%", None), "bad%zzescape%");
    }

    #[test]
    fn paths_under_a_root() {
        let p = normalise_path("file:///home/runner/work/app/app/src/a.py", None);
        assert_eq!(
            under_root(&p, "/home/runner/work/app/app/").as_deref(),
            Some("src/a.py")
        );
        assert_eq!(
            under_root(&p, "file:///home/runner/work/app/app").as_deref(),
            Some("src/a.py")
        );
        assert_eq!(under_root(&p, "/home/runner/work/app/ap"), None);
        assert_eq!(under_root(&p, "/elsewhere"), None);
        assert_eq!(under_root("src/a.py", "/x"), None);
        assert_eq!(
            under_root("C:/w/repo/a.c", "C:\\w\\repo").as_deref(),
            Some("a.c")
        );
    }

    #[test]
    fn fail_closed_vulnerability_severity() {
        assert_eq!(vuln_severity(None, &[], &[]), Severity::High);
        assert_eq!(vuln_severity(None, &[5.3], &[]), Severity::Medium);
        assert_eq!(
            vuln_severity(None, &[], &["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"]),
            Severity::Critical
        );
        assert_eq!(
            vuln_severity(vuln_word(Some("UNKNOWN")), &[], &[]),
            Severity::High
        );
        assert_eq!(
            vuln_severity(vuln_word(Some("low")), &[9.8], &[]),
            Severity::Low
        );
    }
}
