//! CVSS base scores from vector strings.
//!
//! Several scanners (cargo-audit, OSV records, CycloneDX ratings) give only a CVSS vector, not a
//! score or a severity word. To place such a finding on sdl-gate's scale we compute the base
//! score exactly as the CVSS v3.0/v3.1 and v2 specifications define it. CVSS v4 vectors are not
//! scored here (its scoring needs the full lookup table); callers fall back to other data.

/// Base score (0.0–10.0) of a CVSS v3.x vector (`CVSS:3.1/AV:N/…`, also without the prefix)
/// or a v2 vector (`AV:N/AC:L/Au:N/C:P/I:P/A:P`), or `None` when it is not a complete,
/// well-formed v2/v3 vector.
pub fn base_score(vector: &str) -> Option<f64> {
    let v = vector.trim().trim_start_matches('(').trim_end_matches(')');
    if let Some(rest) = v
        .strip_prefix("CVSS:3.0/")
        .or_else(|| v.strip_prefix("CVSS:3.1/"))
    {
        return v3(rest);
    }
    if v.starts_with("CVSS:") {
        return None; // CVSS v4 or unknown version
    }
    if v.contains("Au:") { v2(v) } else { v3(v) }
}

fn metric<'a>(vector: &'a str, name: &str) -> Option<&'a str> {
    vector.split('/').find_map(|part| {
        let (k, val) = part.split_once(':')?;
        (k == name).then_some(val)
    })
}

fn v3(vector: &str) -> Option<f64> {
    let scope_changed = match metric(vector, "S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match metric(vector, "AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match metric(vector, "AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (metric(vector, "PR")?, scope_changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match metric(vector, "UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |name: &str| -> Option<f64> {
        match metric(vector, name)? {
            "H" => Some(0.56),
            "L" => Some(0.22),
            "N" => Some(0.0),
            _ => None,
        }
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact = if scope_changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    if impact <= 0.0 {
        return Some(0.0);
    }
    let exploitability = 8.22 * av * ac * pr * ui;
    let raw = if scope_changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Some(round_up(raw))
}

/// CVSS v3.1 `Roundup`: the smallest number with one decimal that is ≥ the input, computed
/// on integers to avoid floating-point surprises.
fn round_up(x: f64) -> f64 {
    let int_input = (x * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        ((int_input / 10_000) + 1) as f64 / 10.0
    }
}

fn v2(vector: &str) -> Option<f64> {
    let av = match metric(vector, "AV")? {
        "L" => 0.395,
        "A" => 0.646,
        "N" => 1.0,
        _ => return None,
    };
    let ac = match metric(vector, "AC")? {
        "H" => 0.35,
        "M" => 0.61,
        "L" => 0.71,
        _ => return None,
    };
    let au = match metric(vector, "Au")? {
        "M" => 0.45,
        "S" => 0.56,
        "N" => 0.704,
        _ => return None,
    };
    let cia = |name: &str| -> Option<f64> {
        match metric(vector, name)? {
            "N" => Some(0.0),
            "P" => Some(0.275),
            "C" => Some(0.660),
            _ => None,
        }
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let impact = 10.41 * (1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a));
    let exploitability = 20.0 * av * ac * au;
    let f = if impact == 0.0 { 0.0 } else { 1.176 };
    let score = ((0.6 * impact) + (0.4 * exploitability) - 1.5) * f;
    Some((score.max(0.0) * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::base_score;

    #[test]
    fn v31_scores_match_nvd() {
        // Values as published by NVD for these vectors.
        assert_eq!(
            base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),
            Some(7.5)
        );
        assert_eq!(
            base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Some(9.8)
        );
        assert_eq!(
            base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"),
            Some(6.1)
        );
        assert_eq!(
            base_score("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:L/A:N"),
            Some(3.7)
        );
        assert_eq!(
            base_score("CVSS:3.0/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:H"),
            Some(8.2)
        );
        assert_eq!(base_score("AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N"), Some(7.5));
        assert_eq!(
            base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"),
            Some(0.0)
        );
    }

    #[test]
    fn v2_scores_match_nvd() {
        assert_eq!(base_score("AV:N/AC:M/Au:N/C:N/I:P/A:N"), Some(4.3));
        assert_eq!(base_score("AV:N/AC:L/Au:N/C:P/I:P/A:P"), Some(7.5));
        assert_eq!(base_score("AV:L/AC:L/Au:N/C:N/I:P/A:N"), Some(2.1));
    }

    #[test]
    fn malformed_and_v4_vectors_have_no_score() {
        assert_eq!(base_score("CVSS:3.1/AV:N/AC:L"), None);
        assert_eq!(
            base_score("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),
            None
        );
        assert_eq!(
            base_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
            None
        );
        assert_eq!(base_score(""), None);
    }
}
