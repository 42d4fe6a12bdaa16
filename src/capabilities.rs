//! What a forge can and cannot do, as one value: a leaf (it imports nothing) that the forge
//! adapters answer with and the engine and the renderers read, so that a difference between
//! GitHub and GitLab is written once instead of as a second copy of the logic.

/// What a forge can and cannot do, said once by its adapter (`Forge::capabilities`)
/// and read by the engine and the renderers, instead of a second copy of the logic that
/// branches on which forge it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The verdict is a check run with a Markdown summary, a text and line annotations
    /// (GitHub). Without them (GitLab) it is a commit status with one line, and the sticky
    /// comment carries the rest: the text and annotations are not rendered at all.
    pub check_runs: bool,
    /// The forge sends a hook when a comment is deleted (GitHub `issue_comment` `deleted`), so
    /// deleting a comment that granted a waiver revokes it. GitLab sends no hook for a deleted
    /// note: there only an edit revokes, and `/sdl help` says so.
    pub deleted_comment_hooks: bool,
}

impl Capabilities {
    /// github.com and GitHub Enterprise Server (the App and the Action).
    pub const GITHUB: Capabilities = Capabilities {
        check_runs: true,
        deleted_comment_hooks: true,
    };
    /// gitlab.com and self-managed GitLab (the bot and the CI job).
    pub const GITLAB: Capabilities = Capabilities {
        check_runs: false,
        deleted_comment_hooks: false,
    };
}

impl Default for Capabilities {
    /// Everything (GitHub's), so nothing is left unrendered by default.
    fn default() -> Self {
        Capabilities::GITHUB
    }
}
