//! `sdl-gate check` end to end, process start to exit, on generated inputs: a change of N
//! files, a policy of G globs, a SARIF log of R results (the shape of `benches/evaluate.rs`).
//! Prints the median wall time and the CPU time (user + system, from `getrusage`) per run, at
//! the reference size (3,000 files × 200 globs × 25,000 results) and along each axis, so the
//! curve shows whether the cost is linear in files and results.
//!
//! Run with `cargo build --release && cargo run --release --example check_e2e`; pass
//! `--bin PATH` for another binary and `--runs N` (default 7) for more samples; `--write DIR`
//! only writes the reference inputs into DIR (to profile one run, e.g. under `perf record`);
//! `--baseline PATH` runs another build of sdl-gate on the same inputs, its runs interleaved
//! with the first binary's, and prints both with the ratio (CPU, this build / baseline).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One input size.
#[derive(Debug, Clone, Copy)]
struct Size {
    files: usize,
    globs: usize,
    results: usize,
}

fn policy_text(globs: usize) -> String {
    let mut list = String::new();
    for i in 0..globs {
        let _ = write!(list, "\"src/module_{i}/**/*.rs\", ");
    }
    format!(
        r##"version: 1
security_paths: [{list} "src/auth/**"]
gates:
  threat_model:
    paths: ["docs/threat-model/**"]
  security_review:
    approvals: 1
    reviewers: {{ teams: ["acme/security"], users: ["alice"] }}
  sast:
    checks: ["CodeQL"]
    threshold: high
"##
    )
}

fn sarif_text(size: Size) -> String {
    let modules = size.globs.max(1);
    let mut results = String::with_capacity(size.results * 400);
    for i in 0..size.results {
        if i > 0 {
            results.push(',');
        }
        let level = ["note", "warning", "error"][i % 3];
        let _ = write!(
            results,
            r#"{{"ruleId":"rule-{r}","level":"{level}","message":{{"text":"Possible injection of untrusted data number {i}"}},"locations":[{{"physicalLocation":{{"artifactLocation":{{"uri":"src/module_{m}/file_{f}.rs"}},"region":{{"startLine":{l}}}}}}}],"partialFingerprints":{{"primaryLocationLineHash":"{i:016x}"}}}}"#,
            r = i % 40,
            m = i % modules,
            f = i % size.files.max(1),
            l = 1 + i % 500
        );
    }
    let mut rules = String::new();
    for r in 0..40 {
        if r > 0 {
            rules.push(',');
        }
        let _ = write!(
            rules,
            r#"{{"id":"rule-{r}","properties":{{"tags":["security","external/cwe/cwe-{cwe}"]}}}}"#,
            cwe = [79, 89, 22, 78][r % 4]
        );
    }
    format!(
        r#"{{"version":"2.1.0","runs":[{{"tool":{{"driver":{{"name":"CodeQL","rules":[{rules}]}}}},"results":[{results}]}}]}}"#
    )
}

fn changed_text(size: Size) -> String {
    let modules = size.globs.max(1);
    let mut out = String::with_capacity(size.files * 32);
    for i in 0..size.files {
        let _ = writeln!(out, "M\tsrc/module_{}/file_{i}.rs", i % modules);
    }
    out
}

/// CPU time (user + system) of every child reaped so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we pass; RUSAGE_CHILDREN is valid.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) != 0 {
            return Duration::ZERO;
        }
        u
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Writes the policy, the changed-file list and the SARIF log of `size` into `dir`.
fn write_inputs(dir: &Path, size: Size) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let policy = dir.join("sdl-gate.yml");
    let changed = dir.join("changed.txt");
    let sarif = dir.join("codeql.sarif");
    let write = |p: &Path, text: String| {
        std::fs::write(p, text).map_err(|e| format!("writing {}: {e}", p.display()))
    };
    write(&policy, policy_text(size.globs))?;
    write(&changed, changed_text(size))?;
    write(&sarif, sarif_text(size))?;
    Ok((policy, changed, sarif))
}

/// Median wall time, median CPU time and the exit code of one binary's runs.
#[derive(Default)]
struct Runs {
    walls: Vec<Duration>,
    cpus: Vec<Duration>,
    code: i32,
}

impl Runs {
    fn medians(mut self) -> (Duration, Duration, i32) {
        self.walls.sort();
        self.cpus.sort();
        let mid = self.walls.len() / 2;
        (self.walls[mid], self.cpus[mid], self.code)
    }
}

/// Writes the inputs of `size` into `dir` and runs `check` on them `runs` times with each of
/// `bins`, interleaved (so both see the same machine); returns each binary's medians.
fn measure(
    bins: &[&Path],
    dir: &Path,
    size: Size,
    runs: usize,
) -> Result<Vec<(Duration, Duration, i32)>, String> {
    let (policy, changed, sarif) = write_inputs(dir, size)?;
    let mut all: Vec<Runs> = bins.iter().map(|_| Runs::default()).collect();
    for _ in 0..runs {
        for (bin, out) in bins.iter().zip(&mut all) {
            once(bin, dir, (&policy, &changed, &sarif), out)?;
        }
    }
    Ok(all.into_iter().map(Runs::medians).collect())
}

/// One run of `bin` on the inputs, added to `out`.
fn once(
    bin: &Path,
    dir: &Path,
    (policy, changed, sarif): (&Path, &Path, &Path),
    out: &mut Runs,
) -> Result<(), String> {
    let cpu_before = children_cpu();
    let start = Instant::now();
    let status = Command::new(bin)
        .arg("check")
        .arg("--policy")
        .arg(policy)
        .arg("--changed-files")
        .arg(changed)
        .arg("--repo")
        .arg(dir)
        .args(["--author", "bob", "--approved-by", "alice"])
        .args(["--check", "CodeQL=success", "--format", "json"])
        .arg("--sarif")
        .arg(sarif)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("running {}: {e}", bin.display()))?;
    out.walls.push(start.elapsed());
    out.cpus.push(children_cpu().saturating_sub(cpu_before));
    out.code = status.code().unwrap_or(-1);
    Ok(())
}

fn main() -> Result<(), String> {
    let mut bin = PathBuf::from("target/release/sdl-gate");
    let mut runs = 7_usize;
    let mut write_to: Option<PathBuf> = None;
    let mut baseline: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bin" => bin = PathBuf::from(args.next().ok_or("--bin needs a path")?),
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--runs needs a number above 0")?
            }
            "--write" => {
                write_to = Some(PathBuf::from(args.next().ok_or("--write needs a folder")?))
            }
            "--baseline" => {
                baseline = Some(PathBuf::from(args.next().ok_or("--baseline needs a path")?))
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let reference = Size {
        files: 3_000,
        globs: 200,
        results: 25_000,
    };
    if let Some(dir) = write_to {
        write_inputs(&dir, reference)?;
        println!("wrote the reference inputs to {}", dir.display());
        return Ok(());
    }
    if !bin.exists() {
        return Err(format!(
            "{} does not exist: run `cargo build --release` first or pass --bin",
            bin.display()
        ));
    }
    if let Some(old) = baseline.as_ref().filter(|b| !b.exists()) {
        return Err(format!("--baseline {} does not exist", old.display()));
    }
    let mut bins = vec![bin.as_path()];
    bins.extend(baseline.as_deref());
    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let mut sizes = vec![reference];
    for files in [750, 1_500, 6_000, 12_000] {
        sizes.push(Size { files, ..reference });
    }
    for results in [6_250, 12_500, 50_000, 100_000] {
        sizes.push(Size {
            results,
            ..reference
        });
    }
    for globs in [0, 50, 400] {
        sizes.push(Size { globs, ..reference });
    }
    sizes.push(Size {
        files: 10,
        globs: 200,
        results: 0,
    });
    println!(
        "sdl-gate check, process start to exit ({}), median of {runs}",
        bin.display()
    );
    if let Some(old) = &baseline {
        println!(
            "baseline: {} (runs interleaved; ratio = CPU of this build / baseline)",
            old.display()
        );
    }
    let ratio_head = if baseline.is_some() {
        format!("  {:>9} {:>6}", "base cpu", "ratio")
    } else {
        String::new()
    };
    println!(
        "{:>7} {:>6} {:>8}  {:>9} {:>9}  {:>12} {:>4}{ratio_head}",
        "files", "globs", "results", "wall ms", "cpu ms", "cpu µs/unit", "exit"
    );
    for size in sizes {
        let measured = measure(&bins, dir.path(), size, runs)?;
        let (wall, cpu, code) = measured[0];
        let units = (size.files + size.results).max(1);
        let ratio = match measured.get(1) {
            Some((_, base, _)) => format!(
                "  {:>9.1} {:>6.2}",
                base.as_secs_f64() * 1e3,
                cpu.as_secs_f64() / base.as_secs_f64().max(1e-9)
            ),
            None => String::new(),
        };
        println!(
            "{:>7} {:>6} {:>8}  {:>9.1} {:>9.1}  {:>12.2} {:>4}{ratio}",
            size.files,
            size.globs,
            size.results,
            wall.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e6 / units as f64,
            code
        );
    }
    Ok(())
}
