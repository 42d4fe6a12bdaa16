//! The policy file: its model, loading with precise errors, and its JSON Schema.
//!
//! One YAML file per repository (or organisation) says which SDL gates apply to which changes.
//! The same file drives the GitHub App, the GitLab bot, the Action and `sdl-gate check`. It is
//! always read from the base branch of a change, never from the change itself, so a change
//! cannot weaken its own gates.

mod glob;
mod load;
mod model;

pub use glob::{GlobError, GlobList, GlobPattern};
pub use load::{PolicyError, json_schema, parse_policy};
pub use model::*;

/// Where the policy is looked up in a repository, first match wins.
pub const POLICY_PATHS: [&str; 3] = [
    ".github/sdl-gate.yml",
    ".gitlab/sdl-gate.yml",
    ".sdl-gate.yml",
];
