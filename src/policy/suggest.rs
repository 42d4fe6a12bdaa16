//! "Did you mean …?": the closest valid word for a misspelt key or value.
//!
//! Used for unknown policy keys, unknown enum values (`threshold: hgih`) and elsewhere a user
//! types one of a fixed set of words (gate names, requirement ids).

/// The candidate closest to `word`, when it is close enough to be a plausible typo.
///
/// Case is ignored. A candidate qualifies when its Jaro-Winkler similarity is at least 0.8 or
/// its edit distance (with transpositions) is at most a third of its length; the best score
/// wins, ties go to the earlier candidate.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let word = word.to_ascii_lowercase();
    let mut best: Option<(f64, &'a str)> = None;
    for cand in candidates {
        let lower = cand.to_ascii_lowercase();
        if lower == word {
            return Some(cand);
        }
        let jw = strsim::jaro_winkler(&word, &lower);
        let dist = strsim::damerau_levenshtein(&word, &lower);
        let close = jw >= 0.8 || dist * 3 <= lower.chars().count().max(3);
        if !close {
            continue;
        }
        if best.is_none_or(|(score, _)| jw > score) {
            best = Some((jw, cand));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn finds_typos() {
        let keys = ["approvals", "reviewers", "path_reviewers", "enabled"];
        assert_eq!(did_you_mean("aprovals", keys), Some("approvals"));
        assert_eq!(did_you_mean("reviewer", keys), Some("reviewers"));
        assert_eq!(did_you_mean("enabeld", keys), Some("enabled"));
        assert_eq!(did_you_mean("Approvals", keys), Some("approvals"));
    }

    #[test]
    fn says_nothing_for_unrelated_words() {
        let keys = ["approvals", "reviewers", "enabled"];
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(did_you_mean("x", keys), None);
    }
}
