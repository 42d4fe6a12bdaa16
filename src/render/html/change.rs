//! The change page (`/changes/{forge}/{repository}/{number}`, the link every check run and
//! status carries): the current verdict with each gate's explanation tree and findings, what
//! unblocks it, the evaluations so far, the waivers, and the change's ledger entries with their
//! hashes.

use askama::Template;
use chrono::{DateTime, Utc};

use super::{Chrome, HtmlError, Part, spans, time};
use crate::forge_name::ForgeName;
use crate::gates::{Evaluation, FindingStatus, GateResult, Node, NodeStatus, OverallVerdict};
use crate::waivers::Waiver;

/// Findings listed per gate on the page; the rest are counted.
pub const PAGE_FINDINGS: usize = 200;

/// Deepest explanation level drawn indented (deeper levels keep this indent).
const MAX_DEPTH: usize = 4;

/// One evaluation in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    /// When.
    pub at: DateTime<Utc>,
    /// The head commit.
    pub head_sha: String,
    /// The verdict.
    pub verdict: OverallVerdict,
}

/// One ledger entry of the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerItem {
    /// Its sequence number.
    pub seq: u64,
    /// When it was appended.
    pub at: DateTime<Utc>,
    /// Its kind (`evaluation`, `waiver_granted`…).
    pub kind: String,
    /// One line on what it records.
    pub summary: String,
    /// Its chain hash (hex).
    pub hash: String,
}

/// How the change was merged, when it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeItem {
    /// When.
    pub at: Option<DateTime<Utc>>,
    /// By whom.
    pub by: Option<String>,
    /// The verdict of the merged head (`None`: never evaluated).
    pub verdict: Option<OverallVerdict>,
    /// Merged while not passing.
    pub bypassed: bool,
}

/// What the change page shows.
#[derive(Debug, Clone)]
pub struct ChangeInput<'a> {
    /// The forge.
    pub forge: ForgeName,
    /// The repository or project path.
    pub repository: &'a str,
    /// The PR / MR number.
    pub number: u64,
    /// The latest evaluation, if any.
    pub current: Option<&'a Evaluation>,
    /// Evaluations, newest first.
    pub history: Vec<HistoryItem>,
    /// Waivers given on the change, oldest first.
    pub waivers: &'a [Waiver],
    /// The change's ledger entries, in order.
    pub ledger: Vec<LedgerItem>,
    /// The merge, when recorded.
    pub merge: Option<MergeItem>,
    /// The clock (waiver states).
    pub now: DateTime<Utc>,
}

struct MergeView {
    at: Option<String>,
    by: Option<String>,
    verdict: &'static str,
    bypassed: bool,
}

struct Unblock {
    gate: &'static str,
    action: Vec<Part>,
}

struct TreeLine {
    depth: usize,
    status: &'static str,
    text: Vec<Part>,
}

struct FindingView {
    severity: &'static str,
    status: &'static str,
    rule: String,
    place: String,
    message: String,
}

struct GateWaiver {
    state: &'static str,
    by: String,
    until: String,
    reason: String,
}

struct GateView {
    name: &'static str,
    verdict: &'static str,
    explanation: Vec<Part>,
    requirements: String,
    cra: String,
    waiver: Option<GateWaiver>,
    tree: Vec<TreeLine>,
    warnings: Vec<Vec<Part>>,
    findings: Vec<FindingView>,
    findings_more: usize,
    not_blocking: usize,
}

struct CurrentView {
    verdict: &'static str,
    head_sha: String,
    evaluated_at: String,
    standard: String,
    unknowns: Vec<String>,
    unblock: Vec<Unblock>,
    gates: Vec<GateView>,
}

struct HistoryView {
    at: String,
    head: String,
    verdict: &'static str,
}

struct WaiverView {
    gate: &'static str,
    by: String,
    reason: String,
    granted: String,
    until: String,
    state: &'static str,
}

struct LedgerView {
    seq: u64,
    at: String,
    kind: String,
    summary: String,
    hash: String,
}

struct ChangeView<'a> {
    forge: &'static str,
    repository: &'a str,
    number: u64,
    merge: Option<MergeView>,
    current: Option<CurrentView>,
    history: Vec<HistoryView>,
    waivers: Vec<WaiverView>,
    ledger: Vec<LedgerView>,
}

#[derive(Template)]
#[template(path = "html/change.html")]
struct ChangeTemplate<'a> {
    chrome: &'a Chrome,
    page: ChangeView<'a>,
}

/// Renders the change page.
pub fn change_page(chrome: &Chrome, input: &ChangeInput<'_>) -> Result<String, HtmlError> {
    let page = ChangeView {
        forge: input.forge.as_str(),
        repository: input.repository,
        number: input.number,
        merge: input.merge.as_ref().map(|m| MergeView {
            at: m.at.map(time),
            by: m.by.clone(),
            verdict: m.verdict.map_or("never evaluated", OverallVerdict::as_str),
            bypassed: m.bypassed,
        }),
        current: input.current.map(current),
        history: input
            .history
            .iter()
            .map(|h| HistoryView {
                at: time(h.at),
                head: h.head_sha.clone(),
                verdict: h.verdict.as_str(),
            })
            .collect(),
        waivers: input
            .waivers
            .iter()
            .map(|w| waiver_view(w, input.now))
            .collect(),
        ledger: input
            .ledger
            .iter()
            .map(|l| LedgerView {
                seq: l.seq,
                at: time(l.at),
                kind: l.kind.clone(),
                summary: l.summary.clone(),
                hash: l.hash.clone(),
            })
            .collect(),
    };
    ChangeTemplate { chrome, page }
        .render()
        .map_err(HtmlError::of("change"))
}

fn current(e: &Evaluation) -> CurrentView {
    CurrentView {
        verdict: e.verdict.as_str(),
        head_sha: e.head_sha.clone(),
        evaluated_at: time(e.evaluated_at),
        standard: e.standard.clone(),
        unknowns: e.unknowns.clone(),
        unblock: e
            .gates
            .iter()
            .flat_map(|g| {
                g.unblock.iter().map(|a| Unblock {
                    gate: g.gate.as_str(),
                    action: spans(a),
                })
            })
            .collect(),
        gates: e.gates.iter().map(gate_view).collect(),
    }
}

fn gate_view(g: &GateResult) -> GateView {
    let mut tree = Vec::new();
    for node in &g.details {
        flatten(node, 0, &mut tree);
    }
    GateView {
        name: g.gate.as_str(),
        verdict: g.verdict.as_str(),
        explanation: spans(&g.explanation),
        requirements: g.requirements.join(", "),
        cra: g.cra.join(", "),
        waiver: g.waiver.as_ref().map(|w| GateWaiver {
            state: w.state.as_str(),
            by: w.waiver.author.as_str().to_owned(),
            until: time(w.waiver.expires_at),
            reason: w.waiver.reason.clone(),
        }),
        tree,
        warnings: g.warnings.iter().map(|w| spans(w)).collect(),
        findings: g
            .findings
            .iter()
            .take(PAGE_FINDINGS)
            .map(|f| FindingView {
                severity: f.finding.severity.as_str(),
                status: match f.status {
                    FindingStatus::Blocking => "blocking",
                    FindingStatus::Ignored => "ignored",
                    FindingStatus::IgnoreExpired => "ignore expired",
                },
                rule: f.finding.rule.clone(),
                place: match (&f.finding.file, f.finding.line, &f.finding.package) {
                    (Some(file), Some(line), _) => format!("{file}:{line}"),
                    (Some(file), None, _) => file.clone(),
                    (None, _, Some(p)) => match &p.version {
                        Some(v) => format!("{}@{v}", p.name),
                        None => p.name.clone(),
                    },
                    (None, _, None) => String::new(),
                },
                message: f.finding.message.clone(),
            })
            .collect(),
        findings_more: g.findings.len().saturating_sub(PAGE_FINDINGS),
        not_blocking: g.findings_not_blocking,
    }
}

fn flatten(node: &Node, depth: usize, out: &mut Vec<TreeLine>) {
    out.push(TreeLine {
        depth: depth.min(MAX_DEPTH),
        status: match node.status {
            NodeStatus::Pass => "pass",
            NodeStatus::Fail => "fail",
            NodeStatus::Pending => "pending",
            NodeStatus::Skipped => "skipped",
            NodeStatus::Info => "info",
            NodeStatus::Warning => "warning",
        },
        text: spans(&node.description),
    });
    for child in &node.children {
        flatten(child, depth + 1, out);
    }
}

fn waiver_view(w: &Waiver, now: DateTime<Utc>) -> WaiverView {
    let state = if w.revoked.is_some() {
        "revoked"
    } else if w.expires_at <= now {
        "expired"
    } else {
        "in force"
    };
    WaiverView {
        gate: w.gate.as_str(),
        by: w.author.as_str().to_owned(),
        reason: w.reason.clone(),
        granted: time(w.created_at),
        until: time(w.expires_at),
        state,
    }
}
