//! SARIF in one pass over the bytes, for `sdl-gate check`'s large logs.
//!
//! [`super::parse`] reads a log twice: first every run without its results (a run may name its
//! tool, base URIs and artifacts after its results), then the results, streamed into findings.
//! Nearly every writer puts `tool` first (CodeQL: `tool`, `invocations`, `artifacts`,
//! `results`), so here a run's keys are read as they come and its results streamed the moment
//! they are reached, with what the run has said so far. If the run then names its tool, base
//! URIs or artifacts after its results, those findings might have come out differently: the
//! reader gives up (`order_dependent`) and the caller reads the log in two passes. Same
//! findings, in the same order, either way (the tests below compare both readers on every
//! SARIF log at hand, published and our own, and on copies with each run's keys reordered).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{
    ResultsSeed, Run, RunState, ToolPrint, drop_placeholder_fingerprints, is_sarif,
    note_tool_version, run_failures,
};
use crate::reports::finding::Finding;
use crate::reports::normalise::dedupe_fingerprints;
use crate::reports::{Report, ReportFormat, Suppressed, ToolFailure};

/// What the runs read so far add up to.
#[derive(Default)]
struct Acc {
    tools: Vec<String>,
    tool_versions: Vec<String>,
    findings: Vec<Finding>,
    suppressed: Vec<Suppressed>,
    failures: Vec<ToolFailure>,
}

/// Reads `json` in one pass. `Ok(None)`: well-formed JSON but not a SARIF 2.1.0 log. `Err`
/// with `order_dependent` set: a run named its tool, base URIs or artifacts after its results
/// (read it in two passes); `Err` otherwise: not a well-formed log.
pub(super) fn one_pass(
    source: &str,
    json: &[u8],
    order_dependent: &mut bool,
) -> Result<Option<Report>, serde_json::Error> {
    let mut acc = Acc::default();
    let mut de = serde_json::Deserializer::from_slice(json);
    let head = LogSeed {
        acc: &mut acc,
        order_dependent,
    }
    .deserialize(&mut de)?;
    de.end()?;
    if !head.runs || !is_sarif(head.version.as_deref(), head.schema.as_deref()) {
        return Ok(None);
    }
    dedupe_fingerprints(&mut acc.findings);
    Ok(Some(Report {
        source: source.to_owned(),
        format: ReportFormat::Sarif,
        tools: acc.tools,
        findings: acc.findings,
        suppressed: acc.suppressed,
        failures: acc.failures,
        coverage: Default::default(),
        sha256: String::new(),
        tool_versions: acc.tool_versions,
    }))
}

/// What identifies the document as SARIF, and whether it had runs.
struct Head<'de> {
    version: Option<Cow<'de, str>>,
    schema: Option<Cow<'de, str>>,
    runs: bool,
}

/// Fails on a key seen twice (as the two-pass reader's derived structs do).
fn once<E: de::Error>(seen: &mut bool, field: &'static str) -> Result<(), E> {
    if std::mem::replace(seen, true) {
        return Err(E::duplicate_field(field));
    }
    Ok(())
}

/// The top level: `version`, `$schema`, `runs`; anything else is skipped.
struct LogSeed<'s> {
    acc: &'s mut Acc,
    order_dependent: &'s mut bool,
}

impl<'de> DeserializeSeed<'de> for LogSeed<'_> {
    type Value = Head<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Head<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LogSeed<'_> {
    type Value = Head<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SARIF log object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head<'de>, A::Error> {
        let mut head = Head {
            version: None,
            schema: None,
            runs: false,
        };
        let (mut version, mut schema, mut runs) = (false, false, false);
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "version" => {
                    once(&mut version, "version")?;
                    head.version = map.next_value()?;
                }
                "$schema" | "schema_uri" => {
                    once(&mut schema, "$schema")?;
                    head.schema = map.next_value()?;
                }
                "runs" => {
                    once(&mut runs, "runs")?;
                    head.runs = map.next_value_seed(RunsSeed {
                        acc: &mut *self.acc,
                        order_dependent: &mut *self.order_dependent,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(head)
    }
}

/// `runs`: `true` when it is an array (null reads as no runs).
struct RunsSeed<'s> {
    acc: &'s mut Acc,
    order_dependent: &'s mut bool,
}

impl<'de> DeserializeSeed<'de> for RunsSeed<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RunsSeed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of runs")
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq
            .next_element_seed(RunSeed {
                acc: &mut *self.acc,
                order_dependent: &mut *self.order_dependent,
            })?
            .is_some()
        {}
        Ok(true)
    }
}

/// One run: its keys as they come, its results streamed when reached.
struct RunSeed<'s> {
    acc: &'s mut Acc,
    order_dependent: &'s mut bool,
}

impl<'de> DeserializeSeed<'de> for RunSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RunSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a run object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut run = Run::default();
        let (mut tool, mut bases, mut artifacts, mut invocations) = (false, false, false, false);
        let mut streamed = false;
        let mut prints: Vec<ToolPrint> = Vec::new();
        let mut suppressed: Vec<Suppressed> = Vec::new();
        // What the results were read with must not change after them.
        let mut before_results = |streamed: bool| -> Result<(), A::Error> {
            if streamed {
                *self.order_dependent = true;
                return Err(de::Error::custom(
                    "a run names its tool, base URIs or artifacts after its results",
                ));
            }
            Ok(())
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "tool" => {
                    once(&mut tool, "tool")?;
                    before_results(streamed)?;
                    run.tool = map.next_value()?;
                }
                "originalUriBaseIds" | "original_uri_base_ids" => {
                    once(&mut bases, "originalUriBaseIds")?;
                    before_results(streamed)?;
                    run.original_uri_base_ids = map.next_value()?;
                }
                "artifacts" => {
                    once(&mut artifacts, "artifacts")?;
                    before_results(streamed)?;
                    run.artifacts = map.next_value()?;
                }
                "invocations" => {
                    // Only the run's failures read them, once the run is complete.
                    once(&mut invocations, "invocations")?;
                    run.invocations = map.next_value()?;
                }
                "results" => {
                    streamed = true;
                    let mut scratch = Vec::new();
                    let mut state = RunState::new(&run, &mut scratch);
                    let base = self.acc.findings.len();
                    map.next_value_seed(ResultsSeed {
                        state: &mut state,
                        out: &mut self.acc.findings,
                    })?;
                    debug_assert!(state.tool_prints.iter().all(|p| p.index >= base));
                    prints.append(&mut state.tool_prints);
                    suppressed.append(&mut state.suppressed);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let state = RunState::new(&run, &mut self.acc.tools);
        drop_placeholder_fingerprints(&prints, &mut self.acc.findings);
        self.acc.suppressed.append(&mut suppressed);
        self.acc.failures.extend(run_failures(&state));
        note_tool_version(&run, &mut self.acc.tool_versions);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use super::super::{might_be_sarif, parse_fast, two_passes_fast};
    use super::*;

    /// Every SARIF log on disk: the published fixtures and the project's own tool outputs.
    fn logs() -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path
                    .extension()
                    .is_some_and(|e| e == "sarif" || e == "json")
                {
                    out.push(path);
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let fixtures = root.join("../shared/fixtures/sarif");
        if !fixtures.is_dir() {
            eprintln!(
                "note: {} is absent: only the project's own SARIF files are compared",
                fixtures.display()
            );
        }
        let mut out = Vec::new();
        for dir in [fixtures, root.join("tests/data"), root.join("examples")] {
            walk(&dir, &mut out);
        }
        out.sort();
        out
    }

    fn bytes(path: &Path) -> Vec<u8> {
        let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        raw.strip_prefix(b"\xEF\xBB\xBF".as_slice())
            .map(<[u8]>::to_vec)
            .unwrap_or(raw)
    }

    /// The log with every run's keys written in the order `first` then the rest.
    fn reordered(log: &Value, first: &[&str]) -> String {
        let Value::Object(top) = log else {
            return log.to_string();
        };
        let mut out = String::from("{");
        for (i, (key, value)) in top.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::String(key.clone()).to_string());
            out.push(':');
            match (key.as_str(), value) {
                ("runs", Value::Array(runs)) => {
                    out.push('[');
                    for (j, run) in runs.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        let Value::Object(fields) = run else {
                            out.push_str(&run.to_string());
                            continue;
                        };
                        let mut keys: Vec<&String> = fields.keys().collect();
                        keys.sort_by_key(|k| {
                            first.iter().position(|f| f == k).unwrap_or(usize::MAX)
                        });
                        out.push('{');
                        for (n, k) in keys.iter().enumerate() {
                            if n > 0 {
                                out.push(',');
                            }
                            out.push_str(&Value::String((*k).clone()).to_string());
                            out.push(':');
                            out.push_str(&fields[k.as_str()].to_string());
                        }
                        out.push('}');
                    }
                    out.push(']');
                }
                _ => out.push_str(&value.to_string()),
            }
        }
        out.push('}');
        out
    }

    /// One pass gives what two passes give, or steps aside.
    fn same_as_two_passes(name: &str, json: &[u8]) -> Option<bool> {
        let two = two_passes_fast(name, json);
        let mut order_dependent = false;
        let one = one_pass(name, json, &mut order_dependent);
        match (&one, &two) {
            (Ok(Some(one)), Some(two)) => {
                assert_eq!(one, two, "{name}: one pass differs from two");
                Some(true)
            }
            (Err(_), Some(_)) if order_dependent => {
                assert_eq!(parse_fast(name, json).as_ref(), two.as_ref(), "{name}");
                Some(false)
            }
            (Ok(None) | Err(_), None) => {
                assert!(parse_fast(name, json).is_none(), "{name}");
                None
            }
            (one, two) => panic!(
                "{name}: one pass {} but two passes {}",
                match one {
                    Ok(Some(_)) => "read it".to_owned(),
                    Ok(None) => "found no SARIF".to_owned(),
                    Err(e) => format!("failed ({e}, order dependent: {order_dependent})"),
                },
                if two.is_some() { "read it" } else { "did not" }
            ),
        }
    }

    #[test]
    fn one_pass_reads_every_log_as_two_passes_do() {
        let (mut logs_read, mut one, mut fallback, mut reordered_runs) = (0, 0, 0, 0);
        for path in logs() {
            let json = bytes(&path);
            if !might_be_sarif(&json) {
                continue;
            }
            let name = path.display().to_string();
            match same_as_two_passes(&name, &json) {
                Some(true) => one += 1,
                Some(false) => fallback += 1,
                None => continue,
            }
            logs_read += 1;
            let Ok(value) = serde_json::from_slice::<Value>(&json) else {
                continue;
            };
            let original = two_passes_fast(&name, &json).map(|r| r.findings);
            // Results first: the run must be read in two passes, with the same findings.
            let late = reordered(&value, &["results"]);
            let tool_last = value["runs"].as_array().is_some_and(|runs| {
                runs.iter()
                    .any(|r| r.get("results").is_some() && r.get("tool").is_some())
            });
            if tool_last {
                assert_eq!(
                    same_as_two_passes(&name, late.as_bytes()),
                    Some(false),
                    "{name}: results before the tool must be read in two passes"
                );
                reordered_runs += 1;
            }
            // Tool, base URIs and artifacts first: one pass.
            let early = reordered(
                &value,
                &["tool", "originalUriBaseIds", "artifacts", "invocations"],
            );
            assert_eq!(
                same_as_two_passes(&name, early.as_bytes()),
                Some(true),
                "{name}"
            );
            for text in [late, early] {
                assert_eq!(
                    parse_fast(&name, text.as_bytes()).map(|r| r.findings),
                    original,
                    "{name}: the order of a run's keys changed its findings"
                );
            }
        }
        eprintln!(
            "{logs_read} SARIF logs: {one} read in one pass, {fallback} in two; {reordered_runs} read again with results first"
        );
        assert!(logs_read >= 9, "only {logs_read} SARIF logs found");
        assert!(reordered_runs >= 9, "only {reordered_runs} logs reordered");
    }

    #[test]
    fn a_tool_named_after_the_results_is_not_read_with_the_wrong_rules() {
        let results = r#""results":[{"ruleId":"r1","message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a.rs"},"region":{"startLine":3}}}]}]"#;
        let tool = r#""tool":{"driver":{"name":"T","rules":[{"id":"r1","defaultConfiguration":{"level":"error"},"properties":{"security-severity":"9.1"}}]}}"#;
        let late = format!(r#"{{"version":"2.1.0","runs":[{{{results},{tool}}}]}}"#);
        let early = format!(r#"{{"version":"2.1.0","runs":[{{{tool},{results}}}]}}"#);
        let mut order_dependent = false;
        assert!(one_pass("t", late.as_bytes(), &mut order_dependent).is_err());
        assert!(order_dependent);
        let (late, early) = (
            parse_fast("t", late.as_bytes()).expect("late"),
            parse_fast("t", early.as_bytes()).expect("early"),
        );
        assert_eq!(late.findings, early.findings);
        assert_eq!(late.tools, vec!["T".to_owned()]);
        assert_eq!(
            late.findings.first().map(|f| f.severity),
            Some(crate::reports::finding::Severity::Critical)
        );
    }

    #[test]
    fn a_key_given_twice_is_refused_as_before() {
        for log in [
            r#"{"version":"2.1.0","version":"2.1.0","runs":[]}"#,
            r#"{"version":"2.1.0","runs":[{"tool":{},"tool":{}}]}"#,
            r#"{"version":"2.1.0","runs":[],"runs":[]}"#,
        ] {
            let mut order_dependent = false;
            assert!(
                one_pass("t", log.as_bytes(), &mut order_dependent).is_err(),
                "{log}"
            );
            assert!(!order_dependent);
            assert!(two_passes_fast("t", log.as_bytes()).is_none(), "{log}");
        }
    }
}
