//! The organisation floor, for any repository policy: the effective policy is never looser than
//! the floor on any floored rule, never looser than the repository's own policy, and applying
//! the floor again changes nothing.

use proptest::prelude::*;
use sdl_gate::gates::GateKind;
use sdl_gate::policy::{
    FailMode, Floor, GateFloor, GlobPattern, Policy, ReviewFloor, Reviewers, ScanFloor, Trigger,
    apply_floor, parse_policy,
};
use sdl_gate::reports::Severity;
use sdl_gate::snapshot::TeamSlug;

fn base() -> Policy {
    match parse_policy("p.yml", "version: 1\n") {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn glob(s: &str) -> GlobPattern {
    match GlobPattern::new(s) {
        Ok(g) => g,
        Err(e) => panic!("{e}"),
    }
}

fn globs(picks: &[bool], from: &[&str]) -> Vec<GlobPattern> {
    from.iter()
        .zip(picks)
        .filter(|(_, p)| **p)
        .map(|(g, _)| glob(g))
        .collect()
}

fn strings(picks: &[bool], from: &[&str]) -> Vec<String> {
    from.iter()
        .zip(picks)
        .filter(|(_, p)| **p)
        .map(|(g, _)| g.to_string())
        .collect()
}

const PATHS: [&str; 3] = ["src/**", "lib/**", "src/auth/**"];
const LABELS: [&str; 2] = ["security", "crypto"];
const CHECKS: [&str; 3] = ["codeql", "semgrep", "osv"];
const TEAMS: [&str; 2] = ["acme/security", "acme/dev"];
const USERS: [&str; 2] = ["alice", "bob"];

fn severity() -> impl Strategy<Value = Severity> {
    prop::sample::select(vec![
        Severity::Note,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ])
}

fn fail_mode() -> impl Strategy<Value = FailMode> {
    prop_oneof![Just(FailMode::Closed), Just(FailMode::Open)]
}

fn picks(n: usize) -> impl Strategy<Value = Vec<bool>> {
    prop::collection::vec(any::<bool>(), n)
}

fn trigger() -> impl Strategy<Value = Trigger> {
    (
        prop::option::of(picks(3)),
        prop::option::of(picks(2)),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(p, l, always)| Trigger {
            paths: p.map(|p| globs(&p, &PATHS)),
            labels: l.map(|l| strings(&l, &LABELS)),
            always,
        })
}

fn reviewers() -> impl Strategy<Value = Reviewers> {
    (picks(2), picks(2)).prop_map(|(t, u)| Reviewers {
        teams: strings(&t, &TEAMS).into_iter().map(TeamSlug::new).collect(),
        users: strings(&u, &USERS),
    })
}

/// The common settings of one gate: enabled, fail mode, trigger.
type CommonParts = (bool, FailMode, Trigger);

fn common_parts() -> impl Strategy<Value = CommonParts> {
    (any::<bool>(), fail_mode(), trigger())
}

fn repo_policy() -> impl Strategy<Value = Policy> {
    (
        (picks(3), picks(2), picks(3)),
        prop::collection::vec(common_parts(), 5),
        (severity(), picks(3), any::<bool>(), any::<bool>()),
        (severity(), picks(3)),
        (1u32..5, reviewers(), any::<bool>()),
        (1u32..400, 1u32..200),
    )
        .prop_map(|(top, commons, sast, deps, review, waivers)| {
            let mut p = base();
            p.security_paths = globs(&top.0, &PATHS);
            p.security_labels = strings(&top.1, &LABELS);
            p.gates.dependencies.manifests = globs(&top.2, &PATHS);
            for (kind, (enabled, mode, trig)) in GateKind::ALL.iter().zip(commons) {
                let c = match kind {
                    GateKind::ThreatModel => &mut p.gates.threat_model.common,
                    GateKind::SecurityReview => &mut p.gates.security_review.common,
                    GateKind::Sast => &mut p.gates.sast.common,
                    GateKind::Dependencies => &mut p.gates.dependencies.common,
                    GateKind::Sbom => &mut p.gates.sbom.common,
                };
                c.enabled = enabled;
                c.fail_mode = mode;
                c.trigger = trig;
            }
            p.gates.sast.threshold = sast.0;
            p.gates.sast.checks = strings(&sast.1, &CHECKS);
            p.gates.sast.new_only = sast.2;
            p.gates.sast.code_scanning = sast.3;
            p.gates.dependencies.threshold = deps.0;
            p.gates.dependencies.checks = strings(&deps.1, &CHECKS);
            p.gates.security_review.approvals = review.0;
            p.gates.security_review.reviewers = review.1;
            p.gates.security_review.approvals_survive_rebase = review.2;
            p.waivers.max_days = waivers.0;
            p.waivers.min_reason_length = waivers.1;
            p
        })
}

fn scan_floor() -> impl Strategy<Value = Option<ScanFloor>> {
    prop::option::of(
        (
            fail_mode(),
            trigger(),
            prop::option::of(severity()),
            picks(3),
            prop::option::of(any::<bool>()),
            prop::option::of(any::<bool>()),
            picks(3),
        )
            .prop_map(|(fail_mode, trigger, threshold, checks, new_only, cs, m)| {
                ScanFloor {
                    fail_mode,
                    trigger,
                    threshold,
                    checks: strings(&checks, &CHECKS),
                    new_only,
                    code_scanning: cs,
                    manifests: globs(&m, &PATHS),
                }
            }),
    )
}

fn gate_floor() -> impl Strategy<Value = Option<GateFloor>> {
    prop::option::of(
        (fail_mode(), trigger()).prop_map(|(fail_mode, trigger)| GateFloor { fail_mode, trigger }),
    )
}

fn floor() -> impl Strategy<Value = Floor> {
    (
        (picks(3), picks(2)),
        gate_floor(),
        prop::option::of((
            fail_mode(),
            trigger(),
            prop::option::of(1u32..5),
            reviewers(),
            prop::option::of(any::<bool>()),
        )),
        scan_floor(),
        scan_floor(),
        gate_floor(),
        (prop::option::of(1u32..365), prop::option::of(1u32..200)),
    )
        .prop_map(|(top, tm, sr, sast, deps, sbom, w)| {
            let mut f = Floor {
                security_paths: globs(&top.0, &PATHS),
                security_labels: strings(&top.1, &LABELS),
                ..Floor::default()
            };
            f.gates.threat_model = tm;
            f.gates.security_review =
                sr.map(
                    |(fail_mode, trigger, approvals, reviewers, s)| ReviewFloor {
                        fail_mode,
                        trigger,
                        approvals,
                        reviewers,
                        path_reviewers: Vec::new(),
                        approvals_survive_rebase: s,
                    },
                );
            f.gates.sast = sast;
            f.gates.dependencies = deps;
            f.gates.sbom = sbom;
            f.waivers.max_days = w.0;
            f.waivers.min_reason_length = w.1;
            f
        })
}

/// The changes a trigger selects, as the gates read it: always, or these paths and labels.
fn selects(kind: GateKind, p: &Policy, t: &Trigger) -> (bool, Vec<GlobPattern>, Vec<String>) {
    let (paths, labels, always) = match kind {
        GateKind::ThreatModel | GateKind::SecurityReview => {
            (p.security_paths.clone(), p.security_labels.clone(), false)
        }
        GateKind::Sast => (p.security_paths.clone(), p.security_labels.clone(), true),
        GateKind::Dependencies | GateKind::Sbom => {
            (p.gates.dependencies.manifests.clone(), Vec::new(), false)
        }
    };
    let explicit = t.paths.is_some() || t.labels.is_some();
    (
        t.always.unwrap_or(always && !explicit),
        t.paths.clone().unwrap_or(paths),
        t.labels.clone().unwrap_or(labels),
    )
}

fn common(kind: GateKind, p: &Policy) -> &sdl_gate::policy::Common {
    match kind {
        GateKind::ThreatModel => &p.gates.threat_model.common,
        GateKind::SecurityReview => &p.gates.security_review.common,
        GateKind::Sast => &p.gates.sast.common,
        GateKind::Dependencies => &p.gates.dependencies.common,
        GateKind::Sbom => &p.gates.sbom.common,
    }
}

fn floored(kind: GateKind, f: &Floor) -> Option<(FailMode, Trigger)> {
    let g = &f.gates;
    match kind {
        GateKind::ThreatModel => g
            .threat_model
            .as_ref()
            .map(|x| (x.fail_mode, x.trigger.clone())),
        GateKind::SecurityReview => g
            .security_review
            .as_ref()
            .map(|x| (x.fail_mode, x.trigger.clone())),
        GateKind::Sast => g.sast.as_ref().map(|x| (x.fail_mode, x.trigger.clone())),
        GateKind::Dependencies => g
            .dependencies
            .as_ref()
            .map(|x| (x.fail_mode, x.trigger.clone())),
        GateKind::Sbom => g.sbom.as_ref().map(|x| (x.fail_mode, x.trigger.clone())),
    }
}

fn subset<T: PartialEq>(small: &[T], big: &[T]) -> bool {
    small.iter().all(|x| big.contains(x))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn the_effective_policy_is_never_looser_than_the_floor(repo in repo_policy(), floor in floor()) {
        let (eff, notes) = apply_floor(repo.clone(), &floor);
        prop_assert!(subset(&floor.security_paths, &eff.security_paths));
        prop_assert!(subset(&floor.security_labels, &eff.security_labels));
        prop_assert!(subset(&repo.security_paths, &eff.security_paths));
        for kind in GateKind::ALL {
            let Some((mode, trigger)) = floored(kind, &floor) else {
                // Not floored: the repository's own settings stand.
                prop_assert_eq!(common(kind, &eff).enabled, common(kind, &repo).enabled);
                continue;
            };
            let c = common(kind, &eff);
            prop_assert!(c.enabled, "{kind:?} disabled");
            if mode == FailMode::Closed {
                prop_assert_eq!(c.fail_mode, FailMode::Closed);
            }
            let (fa, fp, fl) = selects(kind, &eff, &trigger);
            let (ea, ep, el) = selects(kind, &eff, &c.trigger);
            prop_assert!(ea || (!fa && subset(&fp, &ep) && subset(&fl, &el)),
                "{kind:?} trigger {:?} does not cover the floor's {:?}", c.trigger, trigger);
            if common(kind, &repo).enabled {
                let (ra, rp, rl) = selects(kind, &eff, &common(kind, &repo).trigger);
                prop_assert!(ea || (!ra && subset(&rp, &ep) && subset(&rl, &el)),
                    "{kind:?} narrower than the repository's own trigger");
            }
        }
        if let Some(s) = &floor.gates.sast {
            let g = &eff.gates.sast;
            if let Some(t) = s.threshold {
                prop_assert!(g.threshold <= t);
            }
            prop_assert!(g.threshold <= repo.gates.sast.threshold);
            prop_assert!(subset(&s.checks, &g.checks));
            prop_assert!(subset(&repo.gates.sast.checks, &g.checks));
            if s.new_only == Some(false) {
                prop_assert!(!g.new_only);
            }
            if s.code_scanning == Some(true) {
                prop_assert!(g.code_scanning);
            }
        }
        if let Some(d) = &floor.gates.dependencies {
            let g = &eff.gates.dependencies;
            if let Some(t) = d.threshold {
                prop_assert!(g.threshold <= t);
            }
            prop_assert!(subset(&d.checks, &g.checks));
            prop_assert!(subset(&d.manifests, &g.manifests));
        }
        if let Some(r) = &floor.gates.security_review {
            let g = &eff.gates.security_review;
            if let Some(a) = r.approvals {
                prop_assert!(g.approvals >= a);
            }
            prop_assert!(g.approvals >= repo.gates.security_review.approvals);
            if !r.reviewers.is_empty() {
                // Only people the floor names count for `approvals`.
                prop_assert!(!g.reviewers.is_empty());
                prop_assert!(subset(&g.reviewers.teams, &r.reviewers.teams));
                prop_assert!(subset(&g.reviewers.users, &r.reviewers.users));
                // The repository's own reviewers still count: as themselves or required too.
                let own = &repo.gates.security_review.reviewers;
                if !own.is_empty() && g.reviewers != *own {
                    prop_assert!(g.path_reviewers.iter().any(|s| s.reviewers == *own));
                }
            }
            if r.approvals_survive_rebase == Some(false) {
                prop_assert!(!g.approvals_survive_rebase);
            }
        }
        if let Some(days) = floor.waivers.max_days {
            prop_assert!(eff.waivers.max_days <= days);
        }
        if let Some(len) = floor.waivers.min_reason_length {
            prop_assert!(eff.waivers.min_reason_length >= len);
        }
        // Every change is noted; no note without a change.
        prop_assert_eq!(notes.is_empty(), eff == repo);
        // Idempotent.
        let (again, more) = apply_floor(eff.clone(), &floor);
        prop_assert_eq!(&again, &eff);
        prop_assert!(more.is_empty(), "{more:?}");
    }
}
