//! The policy an evaluation runs under: the repository's own (from the base branch) under the
//! organisation's floor, or the organisation's policy when the repository has none.
//!
//! One read of the organisation's file per evaluation (`Forge::org_policy`: on GitHub what the
//! evaluation's GraphQL query read of the `.github` repository's `sdl-gate.yml`, else one `GET`
//! of it), asked only when the repository's own policy loads or is absent. The organisation's file fails closed: when it does not parse, is
//! too large or may not be read, the check fails and names it; a 404 means "no organisation
//! policy". Outages and rate limits are retried as every other forge read.

use std::sync::Arc;

use crate::forge::{ChangeRef, Forge, ForgeError, Notice, OrgPolicyFile, PolicyFile};
use crate::gates::OrgPolicyUse;
use crate::ledger::evidence;
use crate::policy::{ORG_POLICY_PATH, POLICY_PATHS, Policy, apply_floor, parse_policy_cached};

/// The policy of one evaluation.
#[derive(Debug)]
pub(crate) enum Effective {
    /// Neither the repository nor its organisation has a policy.
    Missing,
    /// A policy cannot be used: the repository's does not parse, or the organisation's
    /// cannot be read or does not parse. The notice fails the check (fail closed).
    Broken(Box<Notice>),
    /// The policy to evaluate with.
    Ready(Box<EffectivePolicy>),
}

/// A usable policy and where it came from.
#[derive(Debug)]
pub(crate) struct EffectivePolicy {
    /// The repository's policy under the floor, or the organisation's.
    pub policy: Arc<Policy>,
    /// The file it was read from (the organisation's when it is the default), for evidence.
    pub file: PolicyFile,
    /// How the organisation's policy took part.
    pub org: Option<OrgPolicyUse>,
}

/// Reads the repository's policy on `base_ref` and the organisation's, and combines them.
pub(crate) async fn effective_policy<F: Forge>(
    forge: &F,
    change: &ChangeRef,
    base_ref: &str,
) -> Result<Effective, ForgeError> {
    let own = match forge.policy(change, base_ref, &POLICY_PATHS).await? {
        None => None,
        Some(file) => match parse_policy_cached(&file.path, &file.text) {
            Ok(p) => Some((file, p)),
            Err(e) => {
                return Ok(Effective::Broken(Box::new(Notice::invalid_policy(
                    &file.path,
                    &file.git_ref,
                    &e.to_string(),
                ))));
            }
        },
    };
    let org = match forge.org_policy(change, ORG_POLICY_PATH).await {
        Ok(org) => org,
        Err(e @ (ForgeError::Forbidden { .. } | ForgeError::Rejected { .. })) => {
            return Ok(Effective::Broken(Box::new(Notice::unusable_org_policy(
                &org_location(forge, change),
                &e.to_string(),
            ))));
        }
        Err(e) => return Err(e),
    };
    let org = match org {
        None => None,
        Some(file) => {
            let location = file.location();
            match parse_policy_cached(&location, &file.file.text) {
                Ok(p) => Some((file, p)),
                Err(e) => {
                    return Ok(Effective::Broken(Box::new(Notice::unusable_org_policy(
                        &location,
                        &e.to_string(),
                    ))));
                }
            }
        }
    };
    Ok(match (own, org) {
        (None, None) => Effective::Missing,
        (Some((file, policy)), None) => Effective::Ready(Box::new(EffectivePolicy {
            policy,
            file,
            org: None,
        })),
        (None, Some((org_file, org_policy))) => {
            // The organisation's policy is the repository's; its floor binds it too (a no-op
            // unless the default itself is looser than the floor).
            let floor = org_policy.floor.clone().unwrap_or_default();
            let (policy, notes) = apply_floor(org_policy.as_ref().clone(), &floor);
            let usage = usage(&org_file, true, notes);
            Effective::Ready(Box::new(EffectivePolicy {
                policy: Arc::new(policy),
                file: PolicyFile {
                    path: org_file.location(),
                    ..org_file.file
                },
                org: Some(usage),
            }))
        }
        (Some((file, own)), Some((org_file, org_policy))) => {
            let (policy, notes) = match &org_policy.floor {
                Some(floor) => {
                    let (p, n) = apply_floor(own.as_ref().clone(), floor);
                    (Arc::new(p), n)
                }
                None => (own, Vec::new()),
            };
            Effective::Ready(Box::new(EffectivePolicy {
                policy,
                file,
                org: Some(usage(&org_file, false, notes)),
            }))
        }
    })
}

fn usage(
    file: &OrgPolicyFile,
    as_default: bool,
    floor: Vec<crate::policy::FloorNote>,
) -> OrgPolicyUse {
    let e = evidence::policy_evidence(&file.location(), &file.file.git_ref, &file.file.text);
    OrgPolicyUse {
        location: file.location(),
        as_default,
        sha256: e.sha256,
        blob_sha: e.blob_sha,
        floor,
    }
}

/// How a notice names the organisation's policy when it could not be read.
fn org_location<F: Forge>(forge: &F, change: &ChangeRef) -> String {
    forge
        .org_policy_location(change, ORG_POLICY_PATH)
        .unwrap_or_else(|| "the organisation's sdl-gate policy".into())
}
