//! Threat-model files recognised by content.
//!
//! The `threat_model` gate asks "did this change update the threat model?". A file under a
//! threat-model path only counts when it really is one: a JSON Schema, a scanner report or an
//! empty file committed there must not satisfy the gate. This module recognises the formats
//! teams actually use and rejects everything else with a reason the author can act on.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::detect::{Detected, Probe, detect_json};
use super::error::{MAX_REPORT_BYTES, ReportError, SUPPORTED_THREAT_MODEL_FORMATS};

/// The threat-model formats sdl-gate recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreatModelKind {
    /// OWASP Threat Dragon 1.x JSON (`summary` + `detail`, no `version`).
    ThreatDragonV1,
    /// OWASP Threat Dragon 2.x JSON (`version` + `summary` + `detail`).
    ThreatDragonV2,
    /// Threagile model YAML (`threagile_version`).
    Threagile,
    /// Open Threat Model (IriusRisk OTM), JSON or YAML (`otmVersion` + `project`).
    Otm,
    /// pytm model input or `--json` report (`elements`, `flows`, `boundaries`).
    Pytm,
    /// Microsoft Threat Modeling Tool `.tm7` (XML root `ThreatModel`).
    MicrosoftTmt,
    /// AWS Threat Composer workspace export (`schema` + `applicationInfo` + `threats`).
    ThreatComposer,
    /// CycloneDX BOM describing a threat model (a component of type `threat-model`).
    CycloneDxThreatModel,
    /// Markdown prose (`.md`), accepted when it is non-empty UTF-8.
    Markdown,
}

impl ThreatModelKind {
    /// Human name, for messages and evidence.
    pub fn name(self) -> &'static str {
        match self {
            ThreatModelKind::ThreatDragonV1 => "OWASP Threat Dragon v1",
            ThreatModelKind::ThreatDragonV2 => "OWASP Threat Dragon v2",
            ThreatModelKind::Threagile => "Threagile",
            ThreatModelKind::Otm => "Open Threat Model",
            ThreatModelKind::Pytm => "pytm",
            ThreatModelKind::MicrosoftTmt => "Microsoft Threat Modeling Tool",
            ThreatModelKind::ThreatComposer => "AWS Threat Composer",
            ThreatModelKind::CycloneDxThreatModel => "CycloneDX threat model",
            ThreatModelKind::Markdown => "Markdown",
        }
    }
}

/// File extensions of the recognised threat-model formats: JSON (Threat Dragon, OTM, pytm,
/// Threat Composer, CycloneDX), YAML (Threagile, OTM), XML and `.tm7` (Microsoft TMT),
/// Markdown. A file under the threat-model paths with any other extension — a pytm model's
/// `tm.py`, a `.dot` data-flow diagram, a `.png` or `.svg` rendering, a PDF — is an
/// attachment of the model: it is not read, so it can neither break the gate nor satisfy it.
/// A file without an extension is read by content (it might be a model; fail closed).
pub const THREAT_MODEL_EXTENSIONS: &[&str] =
    &["json", "yaml", "yml", "tm7", "xml", "md", "markdown", "otm"];

/// True when `path` is an attachment of a threat model (see [`THREAT_MODEL_EXTENSIONS`]),
/// not a file in one of the recognised formats.
pub fn is_threat_model_attachment(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        // `.hidden` files have no extension; `name.` neither.
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => !THREAT_MODEL_EXTENSIONS
            .iter()
            .any(|e| e.eq_ignore_ascii_case(ext)),
        _ => false,
    }
}

fn not_tm(path: &str, reason: impl Into<String>) -> ReportError {
    ReportError::NotAThreatModel {
        source_name: path.to_owned(),
        reason: reason.into(),
        supported: SUPPORTED_THREAT_MODEL_FORMATS,
    }
}

/// Recognises a threat model by its content (the path is used only for Markdown, which has no
/// content signature, and for messages). Errors say why the file is not a threat model.
pub fn parse_threat_model(path: &str, bytes: &[u8]) -> Result<ThreatModelKind, ReportError> {
    if bytes.len() > MAX_REPORT_BYTES {
        return Err(ReportError::TooLarge {
            source_name: path.to_owned(),
            size: bytes.len(),
            limit: MAX_REPORT_BYTES,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| ReportError::NotUtf8 {
        source_name: path.to_owned(),
        offset: e.valid_up_to(),
    })?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(ReportError::Empty {
            source_name: path.to_owned(),
        });
    }
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".md") || lower.ends_with(".markdown") {
        return Ok(ThreatModelKind::Markdown);
    }
    match trimmed.as_bytes()[0] {
        b'<' => xml(path, text),
        b'{' | b'[' => json(path, text),
        _ => yaml(path, text),
    }
}

fn xml(path: &str, text: &str) -> Result<ThreatModelKind, ReportError> {
    super::guard_xml(path, text)?;
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        let pos = e.pos();
        ReportError::Xml {
            source_name: path.to_owned(),
            line: pos.row,
            column: pos.col,
            message: e.to_string(),
        }
    })?;
    let root = doc.root_element();
    if root.tag_name().name() == "ThreatModel" {
        return Ok(ThreatModelKind::MicrosoftTmt);
    }
    Err(not_tm(
        path,
        format!(
            "an XML document with root element <{}>, not a Microsoft Threat Modeling Tool model",
            root.tag_name().name()
        ),
    ))
}

fn json(path: &str, text: &str) -> Result<ThreatModelKind, ReportError> {
    let probe: Probe =
        serde_json::from_str(text).map_err(|e| ReportError::from_json(path, None, None, &e))?;
    let has = |k: &str| probe.has(k);
    if has("otmVersion") && has("project") {
        return Ok(ThreatModelKind::Otm);
    }
    if has("summary") && has("detail") {
        let diagrams = probe
            .get("detail")
            .is_some_and(|d| d.keys().iter().any(|k| k == "diagrams"));
        if !diagrams {
            return Err(not_tm(
                path,
                "has Threat Dragon's `summary` and `detail` but `detail.diagrams` is missing",
            ));
        }
        return Ok(if has("version") {
            ThreatModelKind::ThreatDragonV2
        } else {
            ThreatModelKind::ThreatDragonV1
        });
    }
    if has("applicationInfo") && (has("threats") || has("schema")) {
        return Ok(ThreatModelKind::ThreatComposer);
    }
    if has("elements") && has("flows") && (has("boundaries") || has("actors")) {
        return Ok(ThreatModelKind::Pytm);
    }
    if probe
        .str("bomFormat")
        .is_some_and(|f| f.eq_ignore_ascii_case("CycloneDX"))
    {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ReportError::from_json(path, None, None, &e))?;
        let mut stack: Vec<&serde_json::Value> = value
            .get("components")
            .and_then(|c| c.as_array())
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        while let Some(c) = stack.pop() {
            if c.get("type").and_then(|t| t.as_str()) == Some("threat-model") {
                return Ok(ThreatModelKind::CycloneDxThreatModel);
            }
            stack.extend(
                c.get("components")
                    .and_then(|x| x.as_array())
                    .into_iter()
                    .flatten(),
            );
        }
        return Err(not_tm(
            path,
            "a CycloneDX BOM without a component of type `threat-model` (an SBOM belongs to the sbom gate)",
        ));
    }
    if (has("$schema") || has("$id")) && (has("properties") || has("$defs") || has("definitions")) {
        let title = probe
            .str("title")
            .map(|t| format!(" (\"{t}\")"))
            .unwrap_or_default();
        return Err(not_tm(
            path,
            format!(
                "a JSON Schema{title}: it describes the format of threat models, it is not one"
            ),
        ));
    }
    match detect_json(&probe) {
        Detected::Format(f) => Err(not_tm(
            path,
            format!("a scanner report ({f:?}), not a threat model"),
        )),
        Detected::Unsupported { what, reason } => Err(not_tm(path, format!("{what}: {reason}"))),
        Detected::Unknown => Err(not_tm(
            path,
            format!("{} matches no threat-model format", probe.describe()),
        )),
    }
}

fn yaml(path: &str, text: &str) -> Result<ThreatModelKind, ReportError> {
    let map: BTreeMap<String, IgnoredAny> = match serde_saphyr::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            // Not a mapping (or not YAML at all): say which.
            return match serde_saphyr::from_str::<IgnoredAny>(text) {
                Ok(_) => Err(not_tm(
                    path,
                    "YAML whose top level is not a mapping of keys",
                )),
                Err(_) => Err(ReportError::Yaml {
                    source_name: path.to_owned(),
                    message: e.to_string(),
                }),
            };
        }
    };
    if map.contains_key("threagile_version") {
        return Ok(ThreatModelKind::Threagile);
    }
    if map.contains_key("otmVersion") && map.contains_key("project") {
        return Ok(ThreatModelKind::Otm);
    }
    let keys: Vec<String> = map
        .keys()
        .take(12)
        .map(|k| format!("`{}`", k.chars().take(40).collect::<String>()))
        .collect();
    Err(not_tm(
        path,
        format!(
            "YAML with top-level keys {} (a Threagile model has `threagile_version`, OTM has `otmVersion`)",
            keys.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_small_models() {
        let td2 = br#"{"version":"2.3.0","summary":{"title":"t"},"detail":{"diagrams":[]}}"#;
        assert_eq!(
            parse_threat_model("m.json", td2),
            Ok(ThreatModelKind::ThreatDragonV2)
        );
        let td1 = br#"{"summary":{"title":"t"},"detail":{"diagrams":[]}}"#;
        assert_eq!(
            parse_threat_model("m.json", td1),
            Ok(ThreatModelKind::ThreatDragonV1)
        );
        let otm = b"otmVersion: 0.2.0\nproject:\n  name: x\n  id: x\n";
        assert_eq!(parse_threat_model("m.yaml", otm), Ok(ThreatModelKind::Otm));
        let tg = b"threagile_version: 1.0.0\ntitle: x\n";
        assert_eq!(
            parse_threat_model("threagile.yaml", tg),
            Ok(ThreatModelKind::Threagile)
        );
        let tm7 = br#"<ThreatModel xmlns="http://schemas.datacontract.org/2004/07/ThreatModeling.Model"><DrawingSurfaceList/></ThreatModel>"#;
        assert_eq!(
            parse_threat_model("x.tm7", tm7),
            Ok(ThreatModelKind::MicrosoftTmt)
        );
        assert_eq!(
            parse_threat_model("docs/tm.md", b"# Threats\n"),
            Ok(ThreatModelKind::Markdown)
        );
    }

    #[test]
    fn rejects_with_reasons() {
        assert!(matches!(
            parse_threat_model("tm.md", b"  \n"),
            Err(ReportError::Empty { .. })
        ));
        assert!(matches!(
            parse_threat_model("tm.md", b"\xff\xfe"),
            Err(ReportError::NotUtf8 { .. })
        ));
        let schema = br#"{"$schema":"http://json-schema.org/draft-07/schema#","title":"T","type":"object","properties":{}}"#;
        match parse_threat_model("s.json", schema) {
            Err(ReportError::NotAThreatModel { reason, .. }) => {
                assert!(reason.contains("JSON Schema"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        match parse_threat_model("x.yaml", b"name: x\nsteps: []\n") {
            Err(ReportError::NotAThreatModel { reason, .. }) => {
                assert!(reason.contains("`name`"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_threat_model("x.yaml", b"a: [\n"),
            Err(ReportError::Yaml { .. })
        ));
    }
}
