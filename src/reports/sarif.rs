//! SARIF 2.1.0 → findings.
//!
//! SARIF is the format most tools share, and the largest logs sdl-gate sees (tens of MB for a
//! monorepo), so it is read with typed serde structs that borrow strings from the input and
//! skip everything not needed (code flows, snippets, rule help) without building a tree.
//!
//! Rules applied (SARIF 2.1.0 section numbers in brackets):
//! - several runs, each with its own tool, are read in order; `runs: []` or `null` is an empty
//!   report; results are looked up in `tool.driver.rules` and `tool.extensions[].rules`
//!   (CodeQL puts its query metadata in extensions) by `rule.toolComponent.index` +
//!   `rule.index`, by `ruleIndex`, then by `ruleId` [3.27.5–3.27.7, 3.52].
//! - dropped, not findings: `kind` `pass` / `notApplicable` [3.27.9];
//!   `baselineState: absent` (the result disappeared since the baseline) [3.27.24]. Results
//!   suppressed by an `accepted` (or status-less) suppression, unless one is `underReview`
//!   [3.27.23, 3.35.3], are not findings either but are kept in `Report::suppressed` with
//!   their kind and justification.
//! - `invocations` [3.20]: `executionSuccessful: false` and error-level tool execution or
//!   configuration notifications become `Report::failures` (the gate fails closed on them).
//! - a `fingerprints` value shared by results at different places in a run is a placeholder
//!   (semgrep OSS: `"requires login"`), not an identity: those results get the computed one.
//! - message text: SARIF embedded links `[text](target)` become their text [3.11.6].
//! - severity: `properties.security-severity` on the result, else on the rule (a CVSS-like
//!   score, GitHub's convention); else `level` of the result, else the rule's
//!   `defaultConfiguration.level`, else `warning` — or `none` when `kind` is `review`, `open`
//!   or `informational` [3.27.10].
//! - location: the first `locations[].physicalLocation`; `artifactLocation.uri`, or the URI of
//!   `run.artifacts[index]`; relative URIs are relative to `uriBaseId` (normally `%SRCROOT%`,
//!   the repository); a relative `originalUriBaseIds` entry is prefixed; an absolute source
//!   root is stripped from absolute URIs.
//! - message: `message.text`, else `message.id` looked up in the rule's `messageStrings` with
//!   `{n}` placeholders filled from `arguments`, else the rule's short/full description.
//! - fingerprint: the tool's `fingerprints`, else `partialFingerprints` (with the file, since
//!   partial fingerprints such as `primaryLocationLineHash` are per file), else a hash of
//!   tool, rule, file, package, advisories and message.
//!
//! Snake-case field names (`physical_location`, `start_line`…) are accepted as aliases: the
//! GitHub code-scanning API hands SARIF back in that spelling.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::error::ReportError;
use super::finding::{Finding, FindingKind, Package, Severity};
use super::lenient::{LenientF64, LenientStrings};
use super::normalise::{
    advisory_ids_in, clip, dedupe_fingerprints, fingerprint, leading_advisory_id, normalise_path,
    parse_cwe, push_unique, tidy_cwes,
};
use super::{Report, ReportFormat, Suppressed, ToolFailure};

mod one_pass;
use one_pass::one_pass;

const FORMAT: &str = "SARIF";

#[derive(Deserialize)]
struct Log<'a> {
    #[serde(borrow, default)]
    runs: Option<Vec<Run<'a>>>,
}

/// A run as read in the first pass: everything but its results, which are streamed in the
/// second pass (see [`parse`]).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    #[serde(borrow, default)]
    tool: Option<Tool<'a>>,
    #[serde(borrow, default, alias = "original_uri_base_ids")]
    original_uri_base_ids: Option<BTreeMap<Cow<'a, str>, ArtifactLocation<'a>>>,
    #[serde(borrow, default)]
    artifacts: Option<Vec<Artifact<'a>>>,
    #[serde(borrow, default)]
    invocations: Option<Vec<Invocation<'a>>>,
}

/// The whole log with results, used only to name the JSON path of a data error.
#[derive(Deserialize)]
#[expect(
    dead_code,
    reason = "deserialised only to locate a data error's JSON path"
)]
struct ErrLog<'a> {
    #[serde(borrow, default)]
    runs: Option<Vec<ErrRun<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "deserialised only to locate a data error's JSON path"
)]
struct ErrRun<'a> {
    #[serde(borrow, default)]
    tool: Option<Tool<'a>>,
    #[serde(borrow, default)]
    results: Option<Vec<SarifResult<'a>>>,
    #[serde(borrow, default, alias = "original_uri_base_ids")]
    original_uri_base_ids: Option<BTreeMap<Cow<'a, str>, ArtifactLocation<'a>>>,
    #[serde(borrow, default)]
    artifacts: Option<Vec<Artifact<'a>>>,
    #[serde(borrow, default)]
    invocations: Option<Vec<Invocation<'a>>>,
}

#[derive(Deserialize)]
struct Tool<'a> {
    #[serde(borrow, default)]
    driver: Option<Component<'a>>,
    #[serde(borrow, default)]
    extensions: Option<Vec<Component<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Component<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    rules: Option<Vec<Rule<'a>>>,
    #[serde(borrow, default)]
    version: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "semanticVersion")]
    semantic_version: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default, alias = "short_description")]
    short_description: Option<Message<'a>>,
    #[serde(borrow, default, alias = "full_description")]
    full_description: Option<Message<'a>>,
    #[serde(borrow, default)]
    help: Option<Message<'a>>,
    #[serde(borrow, default, alias = "help_uri")]
    help_uri: Option<Cow<'a, str>>,
    #[serde(borrow, default, alias = "default_configuration")]
    default_configuration: Option<Configuration<'a>>,
    #[serde(borrow, default)]
    properties: Option<Properties<'a>>,
    #[serde(borrow, default, alias = "message_strings")]
    message_strings: Option<BTreeMap<Cow<'a, str>, Message<'a>>>,
    #[serde(borrow, default)]
    relationships: Option<Vec<Relationship<'a>>>,
}

#[derive(Deserialize)]
struct Configuration<'a> {
    #[serde(borrow, default)]
    level: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Relationship<'a> {
    #[serde(borrow, default)]
    target: Option<DescriptorRef<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorRef<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(default)]
    index: LenientF64,
    #[serde(borrow, default, alias = "tool_component")]
    tool_component: Option<ComponentRef<'a>>,
}

#[derive(Deserialize)]
struct ComponentRef<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(default)]
    index: LenientF64,
}

/// Property bags: only the keys sdl-gate reads.
#[derive(Deserialize, Default)]
struct Properties<'a> {
    #[serde(default, rename = "security-severity", alias = "security_severity")]
    security_severity: LenientF64,
    #[serde(default)]
    tags: LenientStrings,
    #[serde(default, alias = "CWE", alias = "cwes")]
    cwe: LenientStrings,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Message<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(default)]
    arguments: LenientStrings,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    #[serde(borrow, default, alias = "rule_id")]
    rule_id: Option<Cow<'a, str>>,
    #[serde(default, alias = "rule_index")]
    rule_index: LenientF64,
    #[serde(borrow, default)]
    rule: Option<DescriptorRef<'a>>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    level: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
    #[serde(borrow, default)]
    locations: Option<Vec<Location<'a>>>,
    #[serde(borrow, default)]
    fingerprints: Option<StrPairs<'a>>,
    #[serde(borrow, default, alias = "partial_fingerprints")]
    partial_fingerprints: Option<StrPairs<'a>>,
    #[serde(borrow, default)]
    suppressions: Option<Vec<Suppression<'a>>>,
    #[serde(borrow, default, alias = "baseline_state")]
    baseline_state: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    properties: Option<Properties<'a>>,
}

#[derive(Deserialize)]
struct Suppression<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    justification: Option<Cow<'a, str>>,
}

/// `runs[].invocations[]` [3.20]: whether the tool ran to the end, and what went wrong.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    #[serde(default, alias = "execution_successful")]
    execution_successful: Option<bool>,
    #[serde(borrow, default, alias = "tool_execution_notifications")]
    tool_execution_notifications: Option<Vec<Notification<'a>>>,
    #[serde(borrow, default, alias = "tool_configuration_notifications")]
    tool_configuration_notifications: Option<Vec<Notification<'a>>>,
}

/// A notification [3.58]: only error-level ones say that the scan is incomplete.
#[derive(Deserialize)]
struct Notification<'a> {
    #[serde(borrow, default)]
    level: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
    #[serde(borrow, default)]
    locations: Option<Vec<Location<'a>>>,
    #[serde(borrow, default)]
    descriptor: Option<DescriptorRef<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    #[serde(borrow, default, alias = "physical_location")]
    physical_location: Option<PhysicalLocation<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation<'a> {
    #[serde(borrow, default, alias = "artifact_location")]
    artifact_location: Option<ArtifactLocation<'a>>,
    #[serde(default)]
    region: Option<Region>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation<'a> {
    #[serde(borrow, default)]
    uri: Option<Cow<'a, str>>,
    #[serde(borrow, default, alias = "uri_base_id")]
    uri_base_id: Option<Cow<'a, str>>,
    #[serde(default)]
    index: LenientF64,
}

#[derive(Deserialize)]
struct Artifact<'a> {
    #[serde(borrow, default)]
    location: Option<ArtifactLocation<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    #[serde(default, alias = "start_line")]
    start_line: LenientF64,
}

/// Parses a SARIF 2.1.0 log (BOM already stripped) into a report.
///
/// Two passes over the bytes: the first reads every run except its results (tools, rules,
/// artifacts, base URIs — whatever order they come in), the second streams the results one by
/// one into findings. The results are never all held as a tree, which keeps the peak memory
/// near the size of the findings themselves.
pub(crate) fn parse(source: &str, json: &[u8]) -> Result<Report, ReportError> {
    let log: Log<'_> = serde_json::from_slice(json).map_err(|err| error(source, json, &err))?;
    stream_results(source, json, log.runs.as_deref().unwrap_or(&[]))
        .map_err(|err| error(source, json, &err))
}

/// The top level of a log for [`parse_fast`]: the first pass plus what identifies SARIF.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    version: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "$schema", alias = "schema_uri")]
    schema: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    runs: Option<Vec<Run<'a>>>,
}

/// True when the start of a JSON document hints at SARIF (a `runs` key or a SARIF schema),
/// worth trying [`parse_fast`] before general format detection.
pub(crate) fn might_be_sarif(json: &[u8]) -> bool {
    let head = &json[..json.len().min(4096)];
    head.windows(6)
        .any(|w| w == b"\"runs\"" || w.eq_ignore_ascii_case(b"sarif-"))
}

/// The fast path for SARIF: the read doubles as format detection, saving the general
/// detector's extra scan of a large log. One pass over the bytes when every run names its tool,
/// base URIs and artifacts before its results (CodeQL and most writers do); otherwise the two
/// passes of [`parse`]. `None` when the document is not a well-formed SARIF 2.1.0 log; the
/// caller then takes the general path, which explains what is wrong.
pub(crate) fn parse_fast(source: &str, json: &[u8]) -> Option<Report> {
    let mut order_dependent = false;
    match one_pass(source, json, &mut order_dependent) {
        Ok(report) => return report,
        Err(_) if !order_dependent => return None,
        Err(_) => {}
    }
    two_passes_fast(source, json)
}

/// [`parse_fast`] in two passes, for logs whose runs name their tool after their results.
fn two_passes_fast(source: &str, json: &[u8]) -> Option<Report> {
    let head: Head<'_> = serde_json::from_slice(json).ok()?;
    if !is_sarif(head.version.as_deref(), head.schema.as_deref()) {
        return None;
    }
    stream_results(source, json, head.runs.as_deref()?).ok()
}

/// Whether a log's `version` (or, without one, its `$schema`) says SARIF 2.1.0.
fn is_sarif(version: Option<&str>, schema: Option<&str>) -> bool {
    match version {
        Some(v) => v == "2.1.0",
        None => schema.is_some_and(|s| s.to_ascii_lowercase().contains("sarif")),
    }
}

/// The second pass: streams every run's results into findings.
fn stream_results(
    source: &str,
    json: &[u8],
    runs: &[Run<'_>],
) -> Result<Report, serde_json::Error> {
    let mut tools = Vec::new();
    let mut states: Vec<RunState<'_, '_>> = runs
        .iter()
        .map(|run| RunState::new(run, &mut tools))
        .collect();
    let mut tool_versions: Vec<String> = Vec::new();
    for run in runs {
        note_tool_version(run, &mut tool_versions);
    }
    let mut findings = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(json);
    LogSeed {
        runs: &mut states,
        out: &mut findings,
    }
    .deserialize(&mut de)?;
    de.end()?;
    let mut suppressed = Vec::new();
    let mut failures = Vec::new();
    for state in &mut states {
        drop_placeholder_fingerprints(&state.tool_prints, &mut findings);
        suppressed.append(&mut state.suppressed);
        failures.extend(run_failures(state));
    }
    dedupe_fingerprints(&mut findings);
    Ok(Report {
        source: source.to_owned(),
        format: ReportFormat::Sarif,
        tools,
        findings,
        suppressed,
        failures,
        coverage: Default::default(),
        sha256: String::new(),
        tool_versions,
    })
}

/// Adds "name version" of a run's driver to `out` (once).
fn note_tool_version(run: &Run<'_>, out: &mut Vec<String>) {
    let Some(driver) = run.tool.as_ref().and_then(|t| t.driver.as_ref()) else {
        return;
    };
    let version = driver
        .semantic_version
        .as_deref()
        .or(driver.version.as_deref());
    if let (Some(name), Some(version)) = (driver.name.as_deref(), version) {
        let named = format!("{} {}", name.trim(), version.trim());
        if !out.contains(&named) {
            out.push(named);
        }
    }
}

/// A finding whose fingerprint came from the tool's `fingerprints`, with what identifies it
/// otherwise.
struct ToolPrint {
    index: usize,
    fallback: String,
}

/// A tool fingerprint shared by results at different places is a placeholder, not an
/// identity (semgrep OSS writes `matchBasedId/v1: "requires login"` on every result): those
/// findings get the fingerprint sdl-gate computes instead.
fn drop_placeholder_fingerprints(prints: &[ToolPrint], findings: &mut [Finding]) {
    let mut places: HashMap<&str, (Option<&str>, Option<u32>, bool)> = HashMap::new();
    for p in prints {
        let f = &findings[p.index];
        let here = (f.file.as_deref(), f.line);
        places
            .entry(f.fingerprint.as_str())
            .and_modify(|e| e.2 |= (e.0, e.1) != here)
            .or_insert((here.0, here.1, false));
    }
    let shared: Vec<String> = places
        .into_iter()
        .filter(|(_, (_, _, shared))| *shared)
        .map(|(fp, _)| fp.to_owned())
        .collect();
    if shared.is_empty() {
        return;
    }
    for p in prints {
        let f = &mut findings[p.index];
        if shared.contains(&f.fingerprint) {
            f.fingerprint.clone_from(&p.fallback);
        }
    }
}

/// What a run's `invocations` say went wrong: `executionSuccessful: false` and error-level
/// execution or configuration notifications, each naming the tool and, when given, the file.
fn run_failures(state: &RunState<'_, '_>) -> Vec<ToolFailure> {
    let mut out = Vec::new();
    for inv in state.run.invocations.as_deref().unwrap_or(&[]) {
        let notes = inv
            .tool_execution_notifications
            .iter()
            .chain(inv.tool_configuration_notifications.iter())
            .flatten();
        let mut errors = 0;
        for n in notes {
            if !n
                .level
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case("error"))
            {
                continue;
            }
            errors += 1;
            let text = n
                .message
                .as_ref()
                .and_then(|m| m.text.as_deref())
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .or_else(|| n.descriptor.as_ref().and_then(|d| d.id.as_deref()))
                .unwrap_or("an error notification without a message");
            let file = n
                .locations
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .find_map(|l| l.physical_location.as_ref())
                .and_then(|p| p.artifact_location.as_ref())
                .and_then(|a| a.uri.as_deref())
                .filter(|u| !u.trim().is_empty())
                .map(|u| normalise_path(u, state.src_root));
            out.push(ToolFailure {
                tool: state.tool.name.clone(),
                message: clip(text),
                file,
            });
        }
        if inv.execution_successful == Some(false) && errors == 0 {
            out.push(ToolFailure {
                tool: state.tool.name.clone(),
                message: "the run did not complete (`executionSuccessful: false`)".to_owned(),
                file: None,
            });
        }
    }
    out
}

fn error(source: &str, json: &[u8], err: &serde_json::Error) -> ReportError {
    // Re-run with path tracking only on failure, so the fast path pays nothing.
    let mut de = serde_json::Deserializer::from_slice(json);
    let path = match serde_path_to_error::deserialize::<_, ErrLog<'_>>(&mut de) {
        Ok(_) => None,
        Err(e) => Some(e.path().to_string()),
    };
    ReportError::from_json(source, Some(FORMAT), path, err)
}

/// What sdl-gate knows about the tool of one run.
struct ToolClass {
    name: String,
    lower: String,
}

const SCA_TOOLS: &[&str] = &[
    "osv-scanner",
    "grype",
    "dependency-check",
    "snyk open source",
    "npm audit",
    "retire",
    "ossindex",
    "govulncheck",
    "cargo-audit",
    "cargo audit",
    "pip-audit",
    "dependabot",
    "mend",
    "whitesource",
    "anchore",
    "xray",
    "jfrog",
];
const SECRET_TOOLS: &[&str] = &[
    "gitleaks",
    "trufflehog",
    "detect-secrets",
    "ggshield",
    "gitguardian",
    "secretlint",
    "talisman",
    "noseyparker",
    "nosey parker",
    "whispers",
];
const CONFIG_TOOLS: &[&str] = &[
    "dockle",
    "checkov",
    "tfsec",
    "kics",
    "hadolint",
    "terrascan",
    "kube-linter",
    "kubesec",
    "kube-score",
    "cfn-lint",
    "cfn_nag",
    "snyk iac",
    "defsec",
    "tflint",
];

/// Facts that depend only on the rule, computed once per rule and run.
struct RuleFacts {
    kind: FindingKind,
    cwe: Vec<u32>,
    score: Option<f64>,
    default_level: Option<Severity>,
    help_uri: Option<String>,
}

/// Everything needed to turn one run's results into findings.
struct RunState<'r, 'a> {
    run: &'r Run<'a>,
    tool: ToolClass,
    driver_rules: &'r [Rule<'a>],
    extensions: &'r [Component<'a>],
    by_id: HashMap<&'r str, &'r Rule<'a>>,
    src_root: Option<&'r str>,
    facts: HashMap<usize, RuleFacts>,
    suppressed: Vec<Suppressed>,
    tool_prints: Vec<ToolPrint>,
}

impl<'r, 'a> RunState<'r, 'a> {
    fn new(run: &'r Run<'a>, tools: &mut Vec<String>) -> Self {
        let driver = run.tool.as_ref().and_then(|t| t.driver.as_ref());
        let name = driver
            .and_then(|d| d.name.as_deref())
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("unnamed SARIF tool")
            .to_owned();
        if !tools.contains(&name) {
            tools.push(name.clone());
        }
        let extensions: &[Component<'_>] = run
            .tool
            .as_ref()
            .and_then(|t| t.extensions.as_deref())
            .unwrap_or(&[]);
        let driver_rules: &[Rule<'_>] = driver.and_then(|d| d.rules.as_deref()).unwrap_or(&[]);
        // id → rule, driver first, then extensions.
        let mut by_id: HashMap<&str, &Rule<'_>> = HashMap::new();
        for rule in driver_rules.iter().chain(
            extensions
                .iter()
                .flat_map(|e| e.rules.as_deref().unwrap_or(&[])),
        ) {
            if let Some(id) = rule.id.as_deref() {
                by_id.entry(id).or_insert(rule);
            }
        }
        let src_root = run
            .original_uri_base_ids
            .as_ref()
            .and_then(|m| m.get("%SRCROOT%").or_else(|| m.get("SRCROOT")))
            .and_then(|l| l.uri.as_deref());
        RunState {
            run,
            tool: ToolClass {
                lower: name.to_ascii_lowercase(),
                name,
            },
            driver_rules,
            extensions,
            by_id,
            src_root,
            facts: HashMap::new(),
            suppressed: Vec::new(),
            tool_prints: Vec::new(),
        }
    }

    fn add(&mut self, result: &SarifResult<'_>, out: &mut Vec<Finding>) {
        if !counts(result) {
            return;
        }
        let rule = resolve_rule(result, self.driver_rules, self.extensions, &self.by_id);
        let finding = to_finding(self, result, rule);
        let suppressions = result.suppressions.as_deref().unwrap_or(&[]);
        if is_suppressed(suppressions) {
            let why = suppressions
                .iter()
                .filter_map(|s| s.justification.as_deref())
                .map(str::trim)
                .find(|j| !j.is_empty());
            let kind = suppressions
                .iter()
                .find_map(|s| s.kind.as_deref())
                .unwrap_or("unspecified");
            self.suppressed.push(Suppressed {
                tool: finding.tool,
                rule: finding.rule,
                file: finding.file,
                line: finding.line,
                kind: kind.to_owned(),
                justification: why.map(clip),
            });
            return;
        }
        if result
            .fingerprints
            .as_ref()
            .is_some_and(|m| !m.0.is_empty())
        {
            let pkg = finding
                .package
                .as_ref()
                .map(|p| p.name.as_str())
                .unwrap_or("");
            let fallback = fingerprint(&[
                &finding.tool,
                &finding.rule,
                finding.file.as_deref().unwrap_or(""),
                pkg,
                &finding.advisories.join(","),
                &finding.message,
            ]);
            self.tool_prints.push(ToolPrint {
                index: out.len(),
                fallback,
            });
        }
        out.push(finding);
    }
}

/// Second pass, top level: finds `runs`, skips everything else.
struct LogSeed<'s, 'r, 'a> {
    runs: &'s mut [RunState<'r, 'a>],
    out: &'s mut Vec<Finding>,
}

impl<'de, 's, 'r, 'a> DeserializeSeed<'de> for LogSeed<'s, 'r, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 's, 'r, 'a> Visitor<'de> for LogSeed<'s, 'r, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SARIF log object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "runs" {
                map.next_value_seed(RunsSeed {
                    runs: &mut *self.runs,
                    out: &mut *self.out,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Second pass, `runs`: hands each run its state from the first pass.
struct RunsSeed<'s, 'r, 'a> {
    runs: &'s mut [RunState<'r, 'a>],
    out: &'s mut Vec<Finding>,
}

impl<'de, 's, 'r, 'a> DeserializeSeed<'de> for RunsSeed<'s, 'r, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 's, 'r, 'a> Visitor<'de> for RunsSeed<'s, 'r, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of runs")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let state = self.runs.get_mut(i);
            let more = match state {
                Some(state) => seq
                    .next_element_seed(RunSeed {
                        state,
                        out: &mut *self.out,
                    })?
                    .is_some(),
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }
}

/// Second pass, one run: streams `results`, skips the rest.
struct RunSeed<'s, 'r, 'a> {
    state: &'s mut RunState<'r, 'a>,
    out: &'s mut Vec<Finding>,
}

impl<'de, 's, 'r, 'a> DeserializeSeed<'de> for RunSeed<'s, 'r, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 's, 'r, 'a> Visitor<'de> for RunSeed<'s, 'r, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a run object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "results" {
                map.next_value_seed(ResultsSeed {
                    state: &mut *self.state,
                    out: &mut *self.out,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Second pass, `results`: each result becomes a finding as soon as it is read.
struct ResultsSeed<'s, 'r, 'a> {
    state: &'s mut RunState<'r, 'a>,
    out: &'s mut Vec<Finding>,
}

impl<'de, 's, 'r, 'a> DeserializeSeed<'de> for ResultsSeed<'s, 'r, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 's, 'r, 'a> Visitor<'de> for ResultsSeed<'s, 'r, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of results")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(result) = seq.next_element::<SarifResult<'de>>()? {
            self.state.add(&result, self.out);
        }
        Ok(())
    }
}

/// Whether a result is a finding (or, when suppressed, a suppressed one): not
/// `pass`/`notApplicable`, not absent.
fn counts(result: &SarifResult<'_>) -> bool {
    if let Some(kind) = result.kind.as_deref()
        && (kind.eq_ignore_ascii_case("pass") || kind.eq_ignore_ascii_case("notApplicable"))
    {
        return false;
    }
    !result
        .baseline_state
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("absent"))
}

/// SARIF §3.35.3: suppressed when some suppression is accepted (a missing status means
/// accepted) and none is under review; all-rejected means not suppressed.
fn is_suppressed(suppressions: &[Suppression<'_>]) -> bool {
    let status = |s: &Suppression<'_>| {
        s.status
            .as_deref()
            .unwrap_or("accepted")
            .to_ascii_lowercase()
    };
    !suppressions.iter().any(|s| status(s) == "underreview")
        && suppressions.iter().any(|s| status(s) == "accepted")
}

fn resolve_rule<'r, 'a>(
    result: &SarifResult<'_>,
    driver_rules: &'r [Rule<'a>],
    extensions: &'r [Component<'a>],
    by_id: &HashMap<&str, &'r Rule<'a>>,
) -> Option<&'r Rule<'a>> {
    let wanted_id = result
        .rule_id
        .as_deref()
        .or_else(|| result.rule.as_ref().and_then(|r| r.id.as_deref()));
    let by_index = if let Some(r) = result.rule.as_ref() {
        let rules = match r.tool_component.as_ref().and_then(|c| c.index.as_index()) {
            Some(ci) => extensions
                .get(ci)
                .and_then(|c| c.rules.as_deref())
                .unwrap_or(&[]),
            None => driver_rules,
        };
        r.index
            .as_index()
            .or(result.rule_index.as_index())
            .and_then(|i| rules.get(i))
    } else {
        result
            .rule_index
            .as_index()
            .and_then(|i| driver_rules.get(i))
    };
    match (by_index, wanted_id) {
        (Some(rule), Some(id)) if rule.id.as_deref().is_some_and(|rid| rid != id) => {
            by_id.get(id).copied().or(Some(rule))
        }
        (Some(rule), _) => Some(rule),
        (None, Some(id)) => by_id.get(id).copied().or_else(|| {
            // Hierarchical ids: `a/b` may refer to rule `a` (§3.27.5).
            id.split_once('/')
                .and_then(|(base, _)| by_id.get(base).copied())
        }),
        (None, None) => None,
    }
}

pub(super) fn level_severity(level: &str) -> Option<Severity> {
    match level.trim().to_ascii_lowercase().as_str() {
        "error" => Some(Severity::High),
        "warning" => Some(Severity::Medium),
        "note" => Some(Severity::Low),
        "none" => Some(Severity::Note),
        _ => None,
    }
}

fn severity(result: &SarifResult<'_>, facts: &RuleFacts) -> Severity {
    let score = result
        .properties
        .as_ref()
        .and_then(|p| p.security_severity.0)
        .or(facts.score);
    if let Some(score) = score {
        return Severity::from_cvss(score);
    }
    if let Some(s) = result.level.as_deref().and_then(level_severity) {
        return s;
    }
    let informational = result.kind.as_deref().is_some_and(|k| {
        matches!(
            k.to_ascii_lowercase().as_str(),
            "review" | "open" | "informational"
        )
    });
    if informational {
        return Severity::Note;
    }
    facts.default_level.unwrap_or(Severity::Medium)
}

/// CWE numbers in a property bag: `tags` like `external/cwe/cwe-079`, and `cwe` values.
fn bag_cwes(bag: &Properties<'_>) -> Vec<u32> {
    let mut out = Vec::new();
    for tag in &bag.tags.0 {
        if tag.to_ascii_lowercase().contains("cwe") {
            out.extend(parse_cwe(tag));
        }
    }
    for c in &bag.cwe.0 {
        out.extend(parse_cwe(c));
    }
    out
}

/// CWE numbers of a rule: its property bag and its relationships to the CWE taxonomy.
fn rule_cwes(rule: Option<&Rule<'_>>) -> Vec<u32> {
    let mut out = rule
        .and_then(|r| r.properties.as_ref())
        .map(bag_cwes)
        .unwrap_or_default();
    if let Some(rels) = rule.and_then(|r| r.relationships.as_deref()) {
        for rel in rels {
            let Some(target) = rel.target.as_ref() else {
                continue;
            };
            let Some(id) = target.id.as_deref() else {
                continue;
            };
            let is_cwe_component = target
                .tool_component
                .as_ref()
                .and_then(|c| c.name.as_deref())
                .is_some_and(|n| n.eq_ignore_ascii_case("cwe"));
            if is_cwe_component || id.to_ascii_lowercase().starts_with("cwe") {
                out.extend(parse_cwe(id));
            }
        }
    }
    tidy_cwes(&mut out);
    out
}

fn location(
    result: &SarifResult<'_>,
    run: &Run<'_>,
    src_root: Option<&str>,
) -> (Option<String>, Option<u32>) {
    let Some(phys) = result
        .locations
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find_map(|l| l.physical_location.as_ref())
    else {
        return (None, None);
    };
    let line = phys
        .region
        .as_ref()
        .and_then(|r| r.start_line.as_u32())
        .filter(|l| *l > 0);
    let Some(al) = phys.artifact_location.as_ref() else {
        return (None, line);
    };
    let from_artifacts = || {
        let i = al.index.as_index()?;
        run.artifacts.as_deref()?.get(i)?.location.as_ref()
    };
    let (uri, base_id) = match al.uri.as_deref() {
        Some(u) => (Some(u), al.uri_base_id.as_deref()),
        None => match from_artifacts() {
            Some(l) => (
                l.uri.as_deref(),
                l.uri_base_id.as_deref().or(al.uri_base_id.as_deref()),
            ),
            None => (None, None),
        },
    };
    let Some(uri) = uri.filter(|u| !u.trim().is_empty()) else {
        return (None, line);
    };
    // A relative base (rare) is prefixed; an absolute one is the root to strip.
    let base_uri = base_id
        .and_then(|b| run.original_uri_base_ids.as_ref()?.get(b))
        .and_then(|l| l.uri.as_deref());
    let is_absolute = |u: &str| u.contains("://") || u.starts_with('/') || u.starts_with("file:");
    let joined;
    let uri = match base_uri {
        Some(base) if !is_absolute(uri) && !is_absolute(base) && !base.is_empty() => {
            joined = format!("{}/{}", base.trim_end_matches('/'), uri);
            joined.as_str()
        }
        _ => uri,
    };
    let root = base_uri.filter(|b| is_absolute(b)).or(src_root);
    (Some(normalise_path(uri, root)), line)
}

fn message(result: &SarifResult<'_>, rule: Option<&Rule<'_>>, rule_id: &str) -> String {
    if let Some(msg) = result.message.as_ref() {
        if let Some(text) = msg.text.as_deref().filter(|t| !t.trim().is_empty()) {
            return clip(&link_texts(text));
        }
        if let Some(id) = msg.id.as_deref() {
            let template = rule
                .and_then(|r| r.message_strings.as_ref())
                .and_then(|m| m.get(id))
                .and_then(|m| m.text.as_deref());
            if let Some(template) = template {
                return clip(&fill_placeholders(template, &msg.arguments.0));
            }
        }
    }
    rule.and_then(|r| {
        r.short_description
            .as_ref()
            .and_then(|m| m.text.as_deref())
            .or_else(|| r.full_description.as_ref().and_then(|m| m.text.as_deref()))
    })
    .map(clip)
    .unwrap_or_else(|| rule_id.to_owned())
}

/// Message text with SARIF embedded links (§3.11.6) `[text](1)` / `[text](uri)` replaced by
/// their text, and the escapes `\[`, `\]`, `\\` undone: the renderers escape the plain text
/// for Markdown, so a link must not reach them as half-escaped syntax.
fn link_texts(text: &str) -> Cow<'_, str> {
    if !text.contains('[') && !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if matches!(chars.get(i + 1), Some('[' | ']' | '\\')) => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '[' => {
                // `[text](target)`: text may hold escaped brackets, target has no `)`.
                let mut j = i + 1;
                let mut label = String::new();
                while j < chars.len() && chars[j] != ']' {
                    if chars[j] == '\\' && matches!(chars.get(j + 1), Some('[' | ']' | '\\')) {
                        j += 1;
                    }
                    label.push(chars[j]);
                    j += 1;
                }
                let close = (j + 1 < chars.len() && chars[j + 1] == '(')
                    .then(|| chars[j + 2..].iter().position(|c| *c == ')'))
                    .flatten();
                match close {
                    Some(end) => {
                        out.push_str(&label);
                        i = j + 2 + end + 1;
                    }
                    None => {
                        out.push('[');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// Fills `{0}`, `{1}`… from `args` (§3.11.5); `{{`/`}}` are literal braces.
fn fill_placeholders(template: &str, args: &[String]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut num = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    num.push(d);
                    chars.next();
                }
                if chars.peek() == Some(&'}') && !num.is_empty() {
                    chars.next();
                    match num.parse::<usize>().ok().and_then(|i| args.get(i)) {
                        Some(arg) => out.push_str(arg),
                        None => {
                            out.push('{');
                            out.push_str(&num);
                            out.push('}');
                        }
                    }
                } else {
                    out.push('{');
                    out.push_str(&num);
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn classify(tool: &ToolClass, rule: Option<&Rule<'_>>, rule_id: &str) -> FindingKind {
    let props = rule.and_then(|r| r.properties.as_ref());
    let tags: Vec<&str> = props
        .map(|p| p.tags.0.iter().map(String::as_str).collect())
        .unwrap_or_default();
    RuleClass {
        tool: &tool.lower,
        tags: &tags,
        rule_name: rule.and_then(|r| r.name.as_deref()).unwrap_or(""),
        rule_kind: props.and_then(|p| p.kind.as_deref()).unwrap_or(""),
        rule_id,
    }
    .kind()
}

/// What decides a finding's kind: the tool, and the rule's tags, name, `kind` property and
/// id. Shared with GitHub code-scanning alerts, which carry the same rule metadata.
pub(super) struct RuleClass<'x> {
    /// The tool's name, lower-case.
    pub tool: &'x str,
    /// The rule's tags as written.
    pub tags: &'x [&'x str],
    /// The rule's name (`""` when none).
    pub rule_name: &'x str,
    /// The rule's `properties.kind` (`""` when none).
    pub rule_kind: &'x str,
    /// The rule id.
    pub rule_id: &'x str,
}

impl RuleClass<'_> {
    /// Secret, configuration, dependency or code, by tool family first, then by the rule.
    pub(super) fn kind(&self) -> FindingKind {
        let tool = self.tool;
        let any = |words: &[&str]| words.iter().any(|w| tool.contains(w));
        let has_tag = |t: &str| self.tags.iter().any(|x| x.eq_ignore_ascii_case(t));
        if tool.contains("trivy") {
            let rule_name = self.rule_name.to_ascii_lowercase();
            if rule_name.contains("secret") || has_tag("secret") {
                return FindingKind::Secret;
            }
            if rule_name.contains("misconfig") || has_tag("misconfiguration") {
                return FindingKind::Config;
            }
            if rule_name.contains("vulnerability")
                || has_tag("vulnerability")
                || leading_advisory_id(self.rule_id).is_some()
            {
                return FindingKind::Dependency;
            }
            return FindingKind::Config;
        }
        if any(SECRET_TOOLS) {
            return FindingKind::Secret;
        }
        if any(CONFIG_TOOLS) {
            return FindingKind::Config;
        }
        if any(SCA_TOOLS) || leading_advisory_id(self.rule_id).is_some() {
            return FindingKind::Dependency;
        }
        if (tool == "snyk" || tool.starts_with("snyk ")) && !tool.contains("code") {
            return FindingKind::Dependency;
        }
        if has_tag("secret") || has_tag("secrets") || self.rule_kind.eq_ignore_ascii_case("secret")
        {
            return FindingKind::Secret;
        }
        FindingKind::Code
    }
}

/// The advisory ids (the rule's own when it is one, then those in the message) and the
/// package a dependency scanner names in its message and rule help.
pub(super) fn dependency_facts(
    rule_id: &str,
    message: &str,
    help: &str,
) -> (Vec<String>, Option<Package>) {
    let mut advisories = Vec::new();
    if let Some(id) = leading_advisory_id(rule_id) {
        push_unique(&mut advisories, &id);
    }
    for id in advisory_ids_in(message) {
        push_unique(&mut advisories, &id);
    }
    (advisories, package_from_text(&[message, help]))
}

/// Package facts a dependency scanner wrote into its SARIF text: Trivy's and Grype's
/// `Package:` / `Installed Version:` / `Fixed Version:` lines, OSV-Scanner's
/// `Package 'name@version'`.
fn package_from_text(texts: &[&str]) -> Option<Package> {
    let mut name = None;
    let mut version = None;
    let mut fixed = None;
    let mut ecosystem = None;
    for text in texts {
        for line in text.lines() {
            let line = line.trim().trim_start_matches(['*', '|', ' ']);
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim().trim_matches('*').trim();
            if value.is_empty() {
                continue;
            }
            match key.trim().to_ascii_lowercase().as_str() {
                "package" if name.is_none() => name = Some(value.to_owned()),
                "installed version" | "version" if version.is_none() => {
                    version = Some(value.to_owned())
                }
                "fixed version" | "fix version" if fixed.is_none() => {
                    fixed = value
                        .split(',')
                        .next()
                        .map(|v| v.trim().to_owned())
                        .filter(|v| !v.is_empty())
                }
                "type" if ecosystem.is_none() => ecosystem = Some(value.to_owned()),
                _ => {}
            }
        }
        if name.is_none()
            && let Some(start) = text.find("Package '")
        {
            let rest = &text[start + 9..];
            if let Some(end) = rest.find('\'') {
                let spec = &rest[..end];
                match spec.rsplit_once('@') {
                    Some((n, v)) if !n.is_empty() => {
                        name = Some(n.to_owned());
                        version = Some(v.to_owned());
                    }
                    _ => name = Some(spec.to_owned()),
                }
            }
        }
    }
    name.map(|name| Package {
        name,
        version,
        fixed_version: fixed,
        ecosystem,
    })
}

fn to_finding<'r, 'a>(
    state: &mut RunState<'r, 'a>,
    result: &SarifResult<'_>,
    rule: Option<&'r Rule<'a>>,
) -> Finding {
    let named = result
        .rule_id
        .as_deref()
        .or_else(|| result.rule.as_ref().and_then(|r| r.id.as_deref()))
        .or_else(|| rule.and_then(|r| r.id.as_deref()));
    // Some tools (gitleaks 7) name no rule on results; their message starts with the rule id.
    let (rule, rule_id) = match (rule, named) {
        (None, None) => match rule_from_message(state.run, result) {
            Some(r) => (
                Some(r),
                r.id.as_deref().unwrap_or("(no rule id)").to_owned(),
            ),
            None => (None, "(no rule id)".to_owned()),
        },
        (rule, named) => (rule, named.unwrap_or("(no rule id)").to_owned()),
    };
    // Rule-level facts are computed once per rule (a log repeats rules thousands of times).
    let computed;
    let facts: &RuleFacts = match rule {
        Some(r) if r.id.as_deref() == Some(rule_id.as_str()) => {
            let tool = &state.tool;
            state
                .facts
                .entry(std::ptr::from_ref(r) as usize)
                .or_insert_with(|| rule_facts(tool, Some(r), &rule_id))
        }
        _ => {
            computed = rule_facts(&state.tool, rule, &rule_id);
            &computed
        }
    };
    let kind = facts.kind;
    let (file, line) = location(result, state.run, state.src_root);
    let message = message(result, rule, &rule_id);
    let (advisories, package) = if kind == FindingKind::Dependency {
        let help = rule
            .and_then(|r| r.help.as_ref())
            .and_then(|m| m.text.as_deref())
            .unwrap_or("");
        dependency_facts(&rule_id, &message, help)
    } else {
        (Vec::new(), None)
    };
    let tool = &state.tool;
    let fp = tool_fingerprint(tool, &rule_id, file.as_deref(), result).unwrap_or_else(|| {
        let pkg = package.as_ref().map(|p| p.name.as_str()).unwrap_or("");
        fingerprint(&[
            &tool.name,
            &rule_id,
            file.as_deref().unwrap_or(""),
            pkg,
            &advisories.join(","),
            &message,
        ])
    });
    let mut cwe = facts.cwe.clone();
    if let Some(bag) = result.properties.as_ref() {
        cwe.extend(bag_cwes(bag));
        tidy_cwes(&mut cwe);
    }
    Finding {
        tool: tool.name.clone(),
        severity: severity(result, facts),
        kind,
        cwe,
        file,
        line,
        message,
        fingerprint: fp,
        package,
        advisories,
        help_uri: facts.help_uri.clone(),
        rule: rule_id,
    }
}

fn rule_facts(tool: &ToolClass, rule: Option<&Rule<'_>>, rule_id: &str) -> RuleFacts {
    let props = rule.and_then(|r| r.properties.as_ref());
    RuleFacts {
        kind: classify(tool, rule, rule_id),
        cwe: rule_cwes(rule),
        score: props.and_then(|p| p.security_severity.0),
        default_level: rule
            .and_then(|r| r.default_configuration.as_ref())
            .and_then(|c| c.level.as_deref())
            .and_then(level_severity),
        help_uri: rule.and_then(|r| r.help_uri.as_deref()).map(str::to_owned),
    }
}

/// The driver rule whose id is the longest prefix of the result's message text.
fn rule_from_message<'r, 'a>(run: &'r Run<'a>, result: &SarifResult<'a>) -> Option<&'r Rule<'a>> {
    let text = result.message.as_ref()?.text.as_deref()?;
    let rules = run.tool.as_ref()?.driver.as_ref()?.rules.as_deref()?;
    rules
        .iter()
        .filter(|r| {
            r.id.as_deref()
                .is_some_and(|id| !id.is_empty() && text.starts_with(id))
        })
        .max_by_key(|r| r.id.as_deref().map_or(0, str::len))
}

fn tool_fingerprint(
    tool: &ToolClass,
    rule_id: &str,
    file: Option<&str>,
    result: &SarifResult<'_>,
) -> Option<String> {
    let flatten = |m: &StrPairs<'_>| -> String {
        let mut pairs: Vec<&(Cow<'_, str>, Cow<'_, str>)> = m.0.iter().collect();
        pairs.sort();
        let mut out = String::new();
        for (k, v) in pairs {
            out.push_str(k);
            out.push('=');
            out.push_str(v);
            out.push(';');
        }
        out
    };
    if let Some(fps) = result.fingerprints.as_ref().filter(|m| !m.0.is_empty()) {
        return Some(fingerprint(&[
            &tool.name,
            rule_id,
            "fingerprints",
            &flatten(fps),
        ]));
    }
    if let Some(fps) = result
        .partial_fingerprints
        .as_ref()
        .filter(|m| !m.0.is_empty())
    {
        return Some(fingerprint(&[
            &tool.name,
            rule_id,
            file.unwrap_or(""),
            "partial",
            &flatten(fps),
        ]));
    }
    None
}

/// A JSON object of strings (`fingerprints`), borrowed; non-string values are skipped and
/// numbers written out.
#[derive(Default)]
struct StrPairs<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for StrPairs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrPairs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrPairs<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if let Some(v) = map.next_value::<MaybeStr<'de>>()?.0 {
                        out.push((key, v));
                    }
                }
                Ok(StrPairs(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<StrPairs<'de>, E> {
                Ok(StrPairs::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrPairs<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StrPairs::default())
            }
        }
        let pairs: StrPairs<'de> = d.deserialize_any(V)?;
        Ok(pairs)
    }
}

/// A string (borrowed when possible) or a number as text; anything else is `None`.
struct MaybeStr<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for MaybeStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MaybeStr<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeStr(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MaybeStr<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MaybeStr(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Report {
        match parse("test.sarif", s.as_bytes()) {
            Ok(r) => r,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    #[test]
    fn embedded_links_become_their_text() {
        assert_eq!(
            link_texts("This depends on a [user-provided value](1)."),
            "This depends on a user-provided value."
        );
        assert_eq!(
            link_texts(r"see [the \[docs\]](https://x.example/a) and \[not a link\]"),
            "see the [docs] and [not a link]"
        );
        assert_eq!(link_texts("a[0] = b"), "a[0] = b");
        assert_eq!(link_texts("[unclosed](1"), "[unclosed](1");
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            fill_placeholders("a {0} b {1} {{x}} {5}", &["X".into(), "Y".into()]),
            "a X b Y {x} {5}"
        );
    }

    #[test]
    fn suppression_semantics_follow_the_spec() {
        let s = |st: &[Option<&'static str>]| -> Vec<Suppression<'static>> {
            st.iter()
                .map(|x| Suppression {
                    status: x.map(Cow::Borrowed),
                    kind: None,
                    justification: None,
                })
                .collect()
        };
        assert!(!is_suppressed(&s(&[])));
        assert!(is_suppressed(&s(&[None])));
        assert!(is_suppressed(&s(&[Some("accepted")])));
        assert!(!is_suppressed(&s(&[Some("rejected")])));
        assert!(!is_suppressed(&s(&[Some("underReview")])));
        assert!(!is_suppressed(&s(&[Some("accepted"), Some("underReview")])));
        assert!(is_suppressed(&s(&[Some("accepted"), Some("rejected")])));
    }

    #[test]
    fn severity_order_security_severity_then_levels() {
        let log = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"T","rules":[
            {"id":"r1","properties":{"security-severity":"9.1"}},
            {"id":"r2","defaultConfiguration":{"level":"note"}},
            {"id":"r3"}]}},
          "results":[
            {"ruleId":"r1","level":"note","message":{"text":"a"}},
            {"ruleId":"r2","message":{"text":"b"}},
            {"ruleId":"r2","level":"error","message":{"text":"c"}},
            {"ruleId":"r3","message":{"text":"d"}},
            {"ruleId":"r3","kind":"informational","message":{"text":"e"}},
            {"ruleId":"r3","properties":{"security-severity":2.0},"message":{"text":"f"}}]}]}"#;
        let sev: Vec<Severity> = parse_str(log).findings.iter().map(|f| f.severity).collect();
        assert_eq!(
            sev,
            vec![
                Severity::Critical,
                Severity::Low,
                Severity::High,
                Severity::Medium,
                Severity::Note,
                Severity::Low
            ]
        );
    }

    #[test]
    fn drops_pass_suppressed_and_absent_results() {
        let log = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"T"}},"results":[
            {"ruleId":"a","message":{"text":"kept"}},
            {"ruleId":"a","kind":"pass","message":{"text":"pass"}},
            {"ruleId":"a","kind":"notApplicable","message":{"text":"na"}},
            {"ruleId":"a","suppressions":[{"kind":"inSource"}],"message":{"text":"sup"}},
            {"ruleId":"a","suppressions":[{"kind":"external","status":"rejected"}],"message":{"text":"rejected kept"}},
            {"ruleId":"a","baselineState":"absent","message":{"text":"gone"}},
            {"ruleId":"a","baselineState":"new","message":{"text":"new kept"}}]}]}"#;
        let report = parse_str(log);
        assert_eq!(
            report.suppressed.len(),
            1,
            "the suppressed result is counted"
        );
        assert_eq!(report.suppressed[0].kind, "inSource");
        let msgs: Vec<String> = report.findings.into_iter().map(|f| f.message).collect();
        assert_eq!(msgs, vec!["kept", "rejected kept", "new kept"]);
    }

    #[test]
    fn location_cwe_message_and_fingerprint() {
        let log = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"CodeQL"},
            "extensions":[{"name":"pack","rules":[{"id":"js/xss","shortDescription":{"text":"XSS"},
              "messageStrings":{"m":{"text":"Value {0} flows to {1}."}},
              "properties":{"tags":["security","external/cwe/cwe-079","external/cwe/cwe-116"]}}]}]},
            "originalUriBaseIds":{"%SRCROOT%":{"uri":"file:///home/ci/repo/"}},
            "artifacts":[{"location":{"uri":"src/a%20b.js","uriBaseId":"%SRCROOT%"}}],
            "results":[
              {"rule":{"id":"js/xss","index":0,"toolComponent":{"index":0}},
               "message":{"id":"m","arguments":["x","sink"]},
               "locations":[{"physicalLocation":{"artifactLocation":{"index":0},"region":{"startLine":12}}}],
               "partialFingerprints":{"primaryLocationLineHash":"abc:1"}},
              {"ruleId":"js/xss","message":{"text":"t"},
               "locations":[{"physicalLocation":{"artifactLocation":{"uri":"file:///home/ci/repo/./lib/x.js"}}}]}]}]}"#;
        let r = parse_str(log);
        assert_eq!(r.tools, vec!["CodeQL"]);
        let f = &r.findings[0];
        assert_eq!(f.rule, "js/xss");
        assert_eq!(f.cwe, vec![79, 116]);
        assert_eq!(f.file.as_deref(), Some("src/a b.js"));
        assert_eq!(f.line, Some(12));
        assert_eq!(f.message, "Value x flows to sink.");
        assert_eq!(f.kind, FindingKind::Code);
        assert_eq!(f.fingerprint.len(), 64);
        let g = &r.findings[1];
        assert_eq!(g.file.as_deref(), Some("lib/x.js"));
        assert_eq!(g.line, None);
        assert_ne!(f.fingerprint, g.fingerprint);
    }

    #[test]
    fn fingerprint_ignores_line_but_separates_repeats() {
        let one = |line: u32| {
            format!(
                r#"{{"version":"2.1.0","runs":[{{"tool":{{"driver":{{"name":"T"}}}},"results":[
                {{"ruleId":"r","message":{{"text":"m"}},"locations":[{{"physicalLocation":{{"artifactLocation":{{"uri":"a.c"}},"region":{{"startLine":{line}}}}}}}]}}]}}]}}"#
            )
        };
        let a = parse_str(&one(3)).findings.remove(0).fingerprint;
        let b = parse_str(&one(40)).findings.remove(0).fingerprint;
        assert_eq!(a, b, "moving a finding must keep its identity");
    }

    #[test]
    fn sca_sarif_becomes_dependency_with_package_and_aliases() {
        let log = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"osv-scanner","rules":[{"id":"CVE-2022-24713"}]}},
          "results":[{"ruleId":"CVE-2022-24713","level":"warning",
            "message":{"text":"Package 'regex@1.5.1' is vulnerable to 'CVE-2022-24713' (also known as 'RUSTSEC-2022-0013', 'GHSA-m5pq-gvj9-9vr8')."},
            "locations":[{"physicalLocation":{"artifactLocation":{"uri":"file:///src/Cargo.lock"}}}]}]}]}"#;
        let f = parse_str(log).findings.remove(0);
        assert_eq!(f.kind, FindingKind::Dependency);
        assert_eq!(
            f.advisories,
            vec!["CVE-2022-24713", "RUSTSEC-2022-0013", "GHSA-m5pq-gvj9-9vr8"]
        );
        assert!(f.matches_id("rustsec-2022-0013"));
        let p = f.package.expect("package");
        assert_eq!(
            (p.name.as_str(), p.version.as_deref()),
            ("regex", Some("1.5.1"))
        );
    }

    #[test]
    fn secrets_and_config_tools_are_classified() {
        let log = r#"{"version":"2.1.0","runs":[
          {"tool":{"driver":{"name":"gitleaks"}},"results":[{"ruleId":"aws","message":{"text":"s"}}]},
          {"tool":{"driver":{"name":"Dockle"}},"results":[{"ruleId":"CIS-DI-0010","message":{"text":"c"}}]},
          {"tool":{"driver":{"name":"Semgrep"}},"results":[{"ruleId":"x","message":{"text":"c"}}]}]}"#;
        let kinds: Vec<FindingKind> = parse_str(log).findings.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            vec![FindingKind::Secret, FindingKind::Config, FindingKind::Code]
        );
    }

    #[test]
    fn structural_error_names_the_path() {
        let log = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"T"}},"results":[{"ruleId":"a","message":{"text":5}}]}]}"#;
        match parse("x.sarif", log.as_bytes()) {
            Err(ReportError::Structure { path, .. }) => {
                assert_eq!(path, "runs[0].results[0].message.text")
            }
            other => panic!("expected a structure error, got {other:?}"),
        }
    }
}
