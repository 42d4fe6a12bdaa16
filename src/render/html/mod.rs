//! Server-rendered HTML: the change page, the repository dashboard and the service's short
//! message pages. Templates live in `templates/html/` and are compiled by askama, which
//! escapes every value for HTML — nothing here builds markup with `format!`, so a title, a
//! reason or a scanner message cannot inject markup or script. The pages load only
//! `/assets/site.css` ([`SITE_CSS`]) and hold no script and no inline style, so they run under
//! a Content-Security-Policy of `default-src 'none'`.
//!
//! This module is pure: the web layer reads the store and hands in plain views.

mod change;
pub mod chart;
mod dashboard;

use askama::Template;

use crate::percent::{encode, encode_path};
use chrono::{DateTime, Utc};

pub use change::{ChangeInput, HistoryItem, LedgerItem, MergeItem, change_page};
pub use dashboard::{
    BlockedItem, BypassItem, DashboardInput, ExpiringItem, ReleaseItem, dashboard_page,
};

/// The pages' one style sheet, served at `/assets/site.css`.
pub const SITE_CSS: &str = include_str!("../../../templates/html/site.css");

/// A template failed to render (a bug, not bad input: every value is escaped).
#[derive(Debug, thiserror::Error)]
#[error("rendering the {page} page failed: {cause}")]
pub struct HtmlError {
    page: &'static str,
    cause: String,
}

impl HtmlError {
    fn of(page: &'static str) -> impl FnOnce(askama::Error) -> HtmlError {
        move |e| HtmlError {
            page,
            cause: e.to_string(),
        }
    }
}

/// A link in the page header's trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crumb {
    /// What it says.
    pub label: String,
    /// Where it goes (a path on this service).
    pub href: String,
}

/// What every page shows around its content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chrome {
    /// The document title.
    pub title: String,
    /// The signed-in user, shown with a sign-out button.
    pub viewer: Option<String>,
    /// The trail of links (repository, change).
    pub crumbs: Vec<Crumb>,
}

#[derive(Template)]
#[template(path = "html/message.html")]
struct MessageTemplate<'a> {
    chrome: &'a Chrome,
    heading: &'a str,
    text: &'a str,
}

/// A page that says one thing (not found, not signed in, an error).
pub fn message_page(chrome: &Chrome, heading: &str, text: &str) -> Result<String, HtmlError> {
    MessageTemplate {
        chrome,
        heading,
        text,
    }
    .render()
    .map_err(HtmlError::of("message"))
}

/// A piece of text that is code or prose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Drawn as `<code>`.
    pub code: bool,
    /// The text (escaped by the template).
    pub text: String,
}

/// Splits text the gates write with Markdown code spans (`` `src/auth/**` ``) into prose and
/// code, so the page draws them as code instead of showing backticks. Text with an unpaired
/// backtick is prose as a whole.
pub fn spans(text: &str) -> Vec<Part> {
    if text.matches('`').count() % 2 == 1 {
        return vec![Part {
            code: false,
            text: text.to_owned(),
        }];
    }
    text.split('`')
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| Part {
            code: i % 2 == 1,
            text: t.to_owned(),
        })
        .collect()
}

/// A commit id or digest as the pages print it: its first 12 characters.
pub fn short(hex: &str) -> String {
    hex.chars().take(12).collect()
}

/// A time as the pages print it: `2026-12-06 14:03 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The path of a change's page (the link check runs and statuses carry).
pub fn change_href(forge: crate::forge_name::ForgeName, repository: &str, number: u64) -> String {
    format!(
        "/changes/{}/{}/{}",
        forge.as_str(),
        encode_path(repository),
        number
    )
}

/// The path of a repository's dashboard.
pub fn repo_href(forge: crate::forge_name::ForgeName, repository: &str) -> String {
    format!("/repos/{}/{}", forge.as_str(), encode_path(repository))
}

/// The path of a release's auditor report page.
pub fn report_href(forge: crate::forge_name::ForgeName, repository: &str, tag: &str) -> String {
    format!(
        "{}/-/releases/{}",
        repo_href(forge, repository),
        encode(tag)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge_name::ForgeName;

    #[test]
    fn paths_keep_subgroups_and_encode_everything_else() {
        assert_eq!(
            change_href(ForgeName::GitLab, "group/sub/app", 7),
            "/changes/gitlab/group/sub/app/7"
        );
        assert_eq!(
            report_href(ForgeName::GitHub, "acme/app", "v4.2/rc 1"),
            "/repos/github/acme/app/-/releases/v4.2%2Frc%201"
        );
        assert_eq!(
            repo_href(ForgeName::GitHub, "acme/a\"><script>"),
            "/repos/github/acme/a%22%3E%3Cscript%3E"
        );
    }

    #[test]
    fn code_spans_become_code_and_an_unpaired_backtick_stays_text() {
        let parts = spans("`src/a.rs` matches `src/**`");
        assert_eq!(
            parts,
            vec![
                Part {
                    code: true,
                    text: "src/a.rs".into()
                },
                Part {
                    code: false,
                    text: " matches ".into()
                },
                Part {
                    code: true,
                    text: "src/**".into()
                },
            ]
        );
        assert_eq!(
            spans("it`s"),
            vec![Part {
                code: false,
                text: "it`s".into()
            }]
        );
    }

    #[test]
    fn a_message_is_escaped() {
        let html = message_page(
            &Chrome {
                title: "<t>".into(),
                viewer: Some("<b>mallory</b>".into()),
                crumbs: vec![],
            },
            "Not found",
            "<img src=x onerror=alert(1)>",
        )
        .expect("renders");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>mallory"), "{html}");
        assert!(
            html.contains("&#60;img src=x onerror=alert(1)&#62;"),
            "{html}"
        );
    }
}
