//! Which forge: the one name for GitHub and GitLab that the events, the queue, the store, the
//! engine and the snapshot all use. It is a leaf (it imports nothing) so that every layer can
//! name a forge without importing another layer; the `Forge` *trait* (what an adapter does) is
//! a different thing and lives in `forge`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The forge a delivery came from and a change request lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ForgeName {
    /// github.com or GitHub Enterprise Server.
    #[serde(rename = "github")]
    GitHub,
    /// gitlab.com or a self-managed GitLab.
    #[serde(rename = "gitlab")]
    GitLab,
}

impl ForgeName {
    /// The lower-case name stored in the database, serialised, and used in metrics labels and
    /// page addresses.
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeName::GitHub => "github",
            ForgeName::GitLab => "gitlab",
        }
    }

    /// Parses the stored name back.
    pub fn parse(name: &str) -> Option<ForgeName> {
        match name {
            "github" => Some(ForgeName::GitHub),
            "gitlab" => Some(ForgeName::GitLab),
            _ => None,
        }
    }
}

impl fmt::Display for ForgeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_name_and_the_serialised_name_are_one() {
        for forge in [ForgeName::GitHub, ForgeName::GitLab] {
            let json = serde_json::to_string(&forge).expect("serialises");
            assert_eq!(json, format!("\"{}\"", forge.as_str()));
            assert_eq!(ForgeName::parse(forge.as_str()), Some(forge));
            let back: ForgeName = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, forge);
        }
        assert_eq!(ForgeName::parse("bitbucket"), None);
    }
}
