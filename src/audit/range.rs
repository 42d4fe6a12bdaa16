//! The range of a report: the merges a release entry lists, or the merges between two
//! bounds, each a day, an RFC 3339 time or a release tag (a time compares the merge's time,
//! a tag the ledger order).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::build::{BuildError, ReportInput};
use super::model::{RangeBound, RangeKind, ReleaseInfo, ReportRange};
use crate::ledger::entry::{MergeEntry, ReleaseEntry};
use crate::ledger::{Entry, Sealed};

/// Which merges a report covers, as the user asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeSpec {
    /// The merges the release entry of this tag lists.
    Release(String),
    /// The merges between two bounds, each a day (`YYYY-MM-DD`), an RFC 3339 time or a
    /// release tag; `None` is open.
    Between {
        /// Lower bound (inclusive for a time, after the release for a tag).
        since: Option<String>,
        /// Upper bound (exclusive for a time, before the release for a tag).
        until: Option<String>,
    },
}

/// How a bound selects merges.
enum Bound {
    Time(DateTime<Utc>),
    Release(u64),
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

fn releases<'a>(entries: &'a [Sealed]) -> impl Iterator<Item = (u64, &'a ReleaseEntry)> + 'a {
    entries.iter().filter_map(|s| match &s.entry {
        Entry::Release(r) => Some((s.seq, r)),
        _ => None,
    })
}

pub(super) fn merge_time(s: &Sealed, m: &MergeEntry) -> DateTime<Utc> {
    m.merged_at.unwrap_or(s.at)
}

/// A merge entry with its seal.
pub(super) type Chosen<'a> = (&'a Sealed, &'a MergeEntry);

/// The merges of the range (in sequence order) and the range as the report states it.
pub(super) fn select<'a>(
    input: &ReportInput<'a>,
) -> Result<(Vec<Chosen<'a>>, ReportRange), BuildError> {
    let merges = input.entries.iter().filter_map(|s| match &s.entry {
        Entry::Merge(m) => Some((s, m)),
        _ => None,
    });
    match input.range {
        RangeSpec::Release(tag) => {
            let Some((seq, release)) = releases(input.entries)
                .filter(|(_, r)| &r.tag == tag)
                .last()
            else {
                return Err(BuildError::NoRelease {
                    tag: tag.clone(),
                    forge: input.forge,
                    repository: input.repository.to_owned(),
                });
            };
            let by_seq: HashMap<u64, (&Sealed, &MergeEntry)> =
                merges.map(|(s, m)| (s.seq, (s, m))).collect();
            let mut chosen = Vec::with_capacity(release.merges.len());
            for listed in &release.merges {
                let Some(found) = by_seq.get(&listed.seq) else {
                    return Err(BuildError::MissingMerge {
                        tag: tag.clone(),
                        seq: listed.seq,
                        repository: input.repository.to_owned(),
                    });
                };
                chosen.push(*found);
            }
            chosen.sort_by_key(|(s, _)| s.seq);
            let previous = release.previous.as_ref().map(|p| p.tag.clone());
            let description = match &previous {
                Some(p) => format!(
                    "release {tag}: the {} merges recorded since release {p}",
                    chosen.len()
                ),
                None => format!(
                    "release {tag}: the {} merges recorded before it (its first release)",
                    chosen.len()
                ),
            };
            Ok((
                chosen,
                ReportRange {
                    kind: RangeKind::Release,
                    description,
                    release: Some(ReleaseInfo {
                        tag: tag.clone(),
                        commit: release.commit.clone().or_else(|| release.target.clone()),
                        by: release.by.clone(),
                        released_at: release.released_at,
                        seq,
                        previous_tag: previous,
                    }),
                    since: None,
                    until: None,
                },
            ))
        }
        RangeSpec::Between { since, until } => {
            let resolve = |flag: &'static str,
                           text: &Option<String>|
             -> Result<Option<(Bound, RangeBound)>, BuildError> {
                let Some(text) = text else { return Ok(None) };
                if let Some(at) = parse_time(text) {
                    return Ok(Some((
                        Bound::Time(at),
                        RangeBound {
                            given: text.clone(),
                            at: Some(at),
                            release_seq: None,
                        },
                    )));
                }
                match releases(input.entries)
                    .filter(|(_, r)| &r.tag == text)
                    .last()
                {
                    Some((seq, _)) => Ok(Some((
                        Bound::Release(seq),
                        RangeBound {
                            given: text.clone(),
                            at: None,
                            release_seq: Some(seq),
                        },
                    ))),
                    None => Err(BuildError::BadBound {
                        flag,
                        given: text.clone(),
                        forge: input.forge,
                        repository: input.repository.to_owned(),
                    }),
                }
            };
            let since = resolve("--since", since)?;
            let until = resolve("--until", until)?;
            let chosen: Vec<_> = merges
                .filter(|(s, m)| {
                    let after = match since.as_ref().map(|b| &b.0) {
                        None => true,
                        Some(Bound::Time(t)) => merge_time(s, m) >= *t,
                        Some(Bound::Release(seq)) => s.seq > *seq,
                    };
                    let before = match until.as_ref().map(|b| &b.0) {
                        None => true,
                        Some(Bound::Time(t)) => merge_time(s, m) < *t,
                        Some(Bound::Release(seq)) => s.seq < *seq,
                    };
                    after && before
                })
                .collect();
            let from = since
                .as_ref()
                .map_or("the first merge".to_owned(), |b| b.1.given.clone());
            let to = until
                .as_ref()
                .map_or("the last merge".to_owned(), |b| b.1.given.clone());
            Ok((
                chosen,
                ReportRange {
                    kind: RangeKind::Between,
                    description: format!("the merges from {from} until {to}"),
                    release: None,
                    since: since.map(|b| b.1),
                    until: until.map(|b| b.1),
                },
            ))
        }
    }
}
