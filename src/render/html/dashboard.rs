//! The repository dashboard (`/repos/{forge}/{repository}`): the changes blocked now and by
//! which gate, waivers expiring within a week, bypassed merges, verdicts per day and
//! requirement coverage as SVG charts, and the releases with their auditor reports.

use askama::Template;
use chrono::{DateTime, Utc};

use super::chart::{Chart, CoverageBar, DayVerdicts, coverage, verdicts_per_day};
use super::{Chrome, HtmlError, change_href, report_href, short, time};
use crate::forge_name::ForgeName;
use crate::gates::{GateKind, OverallVerdict, Verdict};

/// A change blocked now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedItem {
    /// Its number.
    pub number: u64,
    /// Its latest verdict.
    pub verdict: OverallVerdict,
    /// The gates holding it.
    pub gates: Vec<(GateKind, Verdict)>,
    /// The head evaluated.
    pub head_sha: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A waiver about to expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringItem {
    /// The change.
    pub number: u64,
    /// The gate.
    pub gate: GateKind,
    /// Who gave it.
    pub by: String,
    /// Why.
    pub reason: String,
    /// Its expiry.
    pub until: DateTime<Utc>,
}

/// A merge that bypassed the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BypassItem {
    /// The change.
    pub number: u64,
    /// Its title, when recorded.
    pub title: Option<String>,
    /// When.
    pub at: Option<DateTime<Utc>>,
    /// By whom.
    pub by: Option<String>,
    /// The verdict it was merged with (`None`: never evaluated).
    pub verdict: Option<OverallVerdict>,
}

/// A recorded release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseItem {
    /// The tag.
    pub tag: String,
    /// When.
    pub at: Option<DateTime<Utc>>,
    /// Merges it ships.
    pub merges: usize,
    /// Of which bypassed.
    pub bypassed: usize,
}

/// What the dashboard shows.
#[derive(Debug, Clone)]
pub struct DashboardInput<'a> {
    /// The forge.
    pub forge: ForgeName,
    /// The repository or project path.
    pub repository: &'a str,
    /// The clock.
    pub now: DateTime<Utc>,
    /// Changes blocked now, newest first.
    pub blocked: Vec<BlockedItem>,
    /// Waivers expiring within a week, soonest first.
    pub expiring: Vec<ExpiringItem>,
    /// Bypassed merges, newest first.
    pub bypassed: Vec<BypassItem>,
    /// Evaluations per day (oldest first) with the day's `MM-DD`.
    pub days: Vec<(String, DayVerdicts)>,
    /// Coverage per requirement a gate evidences.
    pub coverage: Vec<CoverageBar>,
    /// Requirements no pull-request gate evidences.
    pub process_only: Vec<String>,
    /// Releases, newest first.
    pub releases: Vec<ReleaseItem>,
}

struct BlockedView {
    href: String,
    number: u64,
    verdict: &'static str,
    gates: String,
    head: String,
    at: String,
}

struct ExpiringView {
    href: String,
    number: u64,
    gate: &'static str,
    by: String,
    reason: String,
    until: String,
}

struct BypassView {
    href: String,
    number: u64,
    title: String,
    at: String,
    by: String,
    verdict: &'static str,
}

struct ReleaseView {
    href: String,
    tag: String,
    at: String,
    merges: usize,
    bypassed: usize,
}

struct DashboardView<'a> {
    forge: &'static str,
    repository: &'a str,
    now: String,
    blocked: Vec<BlockedView>,
    expiring: Vec<ExpiringView>,
    bypassed: Vec<BypassView>,
    verdict_chart: Chart,
    coverage_chart: Chart,
    process_only: String,
    releases: Vec<ReleaseView>,
}

#[derive(Template)]
#[template(path = "html/dashboard.html")]
struct DashboardTemplate<'a> {
    chrome: &'a Chrome,
    page: DashboardView<'a>,
}

/// Renders the dashboard.
pub fn dashboard_page(chrome: &Chrome, input: &DashboardInput<'_>) -> Result<String, HtmlError> {
    let (forge, repo) = (input.forge, input.repository);
    let dates: Vec<String> = input.days.iter().map(|(d, _)| d.clone()).collect();
    let counts: Vec<DayVerdicts> = input.days.iter().map(|(_, c)| *c).collect();
    let page = DashboardView {
        forge: forge.as_str(),
        repository: repo,
        now: time(input.now),
        blocked: input
            .blocked
            .iter()
            .map(|b| BlockedView {
                href: change_href(forge, repo, b.number),
                number: b.number,
                verdict: b.verdict.as_str(),
                gates: b
                    .gates
                    .iter()
                    .map(|(g, v)| format!("{} ({})", g.as_str(), v.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
                head: short(&b.head_sha),
                at: time(b.at),
            })
            .collect(),
        expiring: input
            .expiring
            .iter()
            .map(|w| ExpiringView {
                href: change_href(forge, repo, w.number),
                number: w.number,
                gate: w.gate.as_str(),
                by: w.by.clone(),
                reason: w.reason.clone(),
                until: time(w.until),
            })
            .collect(),
        bypassed: input
            .bypassed
            .iter()
            .map(|m| BypassView {
                href: change_href(forge, repo, m.number),
                number: m.number,
                title: m
                    .title
                    .clone()
                    .unwrap_or_else(|| "(title not recorded)".into()),
                at: m.at.map(time).unwrap_or_default(),
                by: m.by.clone().unwrap_or_default(),
                verdict: m.verdict.map_or("never evaluated", OverallVerdict::as_str),
            })
            .collect(),
        verdict_chart: verdicts_per_day(&counts, &dates),
        coverage_chart: coverage(&input.coverage),
        process_only: input.process_only.join(", "),
        releases: input
            .releases
            .iter()
            .map(|r| ReleaseView {
                href: report_href(forge, repo, &r.tag),
                tag: r.tag.clone(),
                at: r.at.map(time).unwrap_or_default(),
                merges: r.merges,
                bypassed: r.bypassed,
            })
            .collect(),
    };
    DashboardTemplate { chrome, page }
        .render()
        .map_err(HtmlError::of("dashboard"))
}
