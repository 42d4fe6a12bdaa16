//! All user-facing text: check-run summaries, the sticky comment, job summaries, annotations
//! and the JSON result. Everything that came from users or scanners is escaped here.
