//! The policy file: its model, loading with precise errors, and its JSON Schema.
//!
//! One YAML file per repository (or organisation) says which SDL gates apply to which changes.
//! The same file drives the GitHub App, the GitLab bot, the Action and `sdl-gate check`. It is
//! always read from the base branch of a change, never from the change itself, so a change
//! cannot weaken its own gates.

mod cache;
mod floor;
mod glob;
mod link;
mod load;
mod model;
mod positions;
mod recent;
mod suggest;
mod validate;

pub use cache::{CACHED_POLICIES, CachedPolicy, parse_policy_cached};
pub use floor::{
    Floor, FloorGates, FloorNote, GateFloor, ReviewFloor, ScanFloor, WaiversFloor, apply_floor,
};
pub use glob::{GlobError, GlobList, GlobPattern};
pub use link::{LinkMismatch, check_link, describe_misses, match_link};
pub use load::{
    MAX_POLICY_BYTES, MAX_POLICY_DEPTH, PolicyError, PolicyErrors, PolicyReport, PolicyWarning,
    check_policy, json_schema, parse_policy,
};
pub use model::*;
pub use suggest::did_you_mean;
pub use validate::{MAX_WAIVER_DAYS, MIN_IGNORE_REASON};

/// Where the policy is looked up in a repository, first match wins.
pub const POLICY_PATHS: [&str; 3] = [
    ".github/sdl-gate.yml",
    ".gitlab/sdl-gate.yml",
    ".sdl-gate.yml",
];

/// The organisation's policy file: in the organisation's `.github` repository on GitHub, at
/// the root of the configured policy project on GitLab. It is the policy of every repository
/// without its own, and its `floor:` binds every repository.
pub const ORG_POLICY_PATH: &str = "sdl-gate.yml";
