//! The auditor report (issue 16): what an ISASecure SDLA assessor or a CRA market surveillance
//! authority asks for — "show me the evidence for SR-2, SD-3, SI-1, SVV-3 for release 4.2" —
//! built from the evidence ledger of one repository and one range of merges.
//!
//! The report is one data structure ([`model::AuditReport`]) with a published JSON Schema;
//! the Markdown and HTML forms only render it, so the three say the same thing. Building it
//! ([`build`]) and rendering it ([`markdown`], [`html`]) is pure: the entries, the catalog and
//! the outcome of `ledger verify` are passed in, which keeps the rules (what counts as
//! evidence, what is an exception, what is never "covered") testable without a database.
//! `range` picks the merges, `waivers` follows each waiver to its end, [`coverage`] counts
//! evidence per requirement and CRA reference.
//! [`load`] (service feature) reads the store, verifies the ledger and calls the pure part;
//! the CLI (`sdl-gate report`) and the service's report page both go through it.

pub mod build;
pub mod coverage;
#[cfg(test)]
mod fixture;
pub mod html;
#[cfg(feature = "service")]
pub mod load;
pub mod markdown;
pub mod model;
mod range;
mod waivers;

pub use build::{BuildError, RangeSpec, ReportInput, Verification, build_report};
pub use html::{HtmlMode, REPORT_CSS, render_html};
#[cfg(feature = "service")]
pub use load::{AuditError, ReportQuery, load_report, load_report_with, verify};
pub use markdown::render_markdown;
pub use model::{AuditReport, SCHEMA_ID, json_schema, render_json};
