//! The `/sdl` command grammar: finding commands in a Markdown comment and parsing each one
//! into a typed [`Command`], or a [`CommandError`] with its position and a suggestion.
//!
//! A command is a line that starts with `/sdl` (any case, after optional indentation of at most
//! three spaces). Lines inside fenced code blocks, indented code blocks and quotes (`>`) are
//! not commands, so quoting someone's command or showing one in code never runs it.

use std::fmt;

use chrono::NaiveDate;

use crate::gates::GateKind;

/// When a waiver ends, as written in the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// `--for 14d` (days) or `--for 48h` (hours): a span from now.
    For {
        /// Length in hours.
        hours: u32,
    },
    /// `--until 2027-01-31`: the end of that day, UTC.
    Until(NaiveDate),
    /// Not given: the policy's longest waiver.
    Default,
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/sdl help`.
    Help,
    /// `/sdl status`.
    Status,
    /// `/sdl recheck`.
    Recheck,
    /// `/sdl waive GATE [--for N(d|h) | --until DATE] REASON…`.
    Waive {
        /// The gate.
        gate: GateKind,
        /// Until when.
        expiry: Expiry,
        /// Why (the rest of the line).
        reason: String,
    },
    /// `/sdl unwaive GATE`.
    Unwaive {
        /// The gate.
        gate: GateKind,
    },
    /// `/sdl explain GATE|REQUIREMENT-ID`.
    Explain {
        /// What to explain, as written.
        topic: String,
    },
    /// `/sdl threat-model URL|#ISSUE`.
    ThreatModel {
        /// The reference.
        reference: String,
    },
}

impl Command {
    /// The command word (`waive`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Help => "help",
            Command::Status => "status",
            Command::Recheck => "recheck",
            Command::Waive { .. } => "waive",
            Command::Unwaive { .. } => "unwaive",
            Command::Explain { .. } => "explain",
            Command::ThreatModel { .. } => "threat-model",
        }
    }
}

impl fmt::Display for Command {
    /// The canonical text of the command; parsing it gives the command back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Waive {
                gate,
                expiry,
                reason,
            } => {
                write!(f, "/sdl waive {gate}")?;
                match expiry {
                    Expiry::For { hours } if hours % 24 == 0 => {
                        write!(f, " --for {}d", hours / 24)?
                    }
                    Expiry::For { hours } => write!(f, " --for {hours}h")?,
                    Expiry::Until(d) => write!(f, " --until {d}")?,
                    Expiry::Default => {}
                }
                if reason.starts_with("--") {
                    // Otherwise the reason would read as an option.
                    write!(f, " --")?;
                }
                write!(f, " {reason}")
            }
            Command::Unwaive { gate } => write!(f, "/sdl unwaive {gate}"),
            Command::Explain { topic } => write!(f, "/sdl explain {topic}"),
            Command::ThreatModel { reference } => write!(f, "/sdl threat-model {reference}"),
            other => write!(f, "/sdl {}", other.name()),
        }
    }
}

/// Every command word, for suggestions and help.
pub const COMMANDS: [&str; 7] = [
    "help",
    "status",
    "recheck",
    "waive",
    "unwaive",
    "explain",
    "threat-model",
];

/// What is wrong with a command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandErrorKind {
    /// `/sdl` alone.
    #[error("no command after `/sdl`")]
    Missing,
    /// A word that is not a command.
    #[error("unknown command `{0}`")]
    Unknown(String),
    /// A command that needs an argument got none.
    #[error("`{command}` needs {what}")]
    MissingArgument {
        /// The command.
        command: &'static str,
        /// What it needs.
        what: &'static str,
    },
    /// A gate name that does not exist.
    #[error("unknown gate `{0}`")]
    UnknownGate(String),
    /// An option that is not known, or given twice.
    #[error("unexpected option `{0}`")]
    UnknownOption(String),
    /// A bad `--for` value.
    #[error("`--for {0}` is not a duration: write a number of days or hours, like `14d` or `48h`")]
    BadDuration(String),
    /// A bad `--until` value.
    #[error("`--until {0}` is not a date: write it as YYYY-MM-DD")]
    BadDate(String),
    /// Extra words after a command that takes none.
    #[error("`{command}` takes no arguments, but got `{extra}`")]
    UnexpectedArgument {
        /// The command.
        command: &'static str,
        /// What followed.
        extra: String,
    },
}

/// A command line that could not be parsed, with where and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct CommandError {
    /// The line as written.
    pub text: String,
    /// 1-based line in the comment.
    pub line: usize,
    /// 1-based column (in characters) of the word at fault.
    pub column: usize,
    /// What is wrong.
    pub kind: CommandErrorKind,
    /// The closest valid command, when one is close.
    pub suggestion: Option<String>,
}

/// A command or an error, with the line it was on.
pub type Parsed = Result<(usize, Command), CommandError>;

/// A word of a command line and the column it starts at (1-based, in characters).
#[derive(Debug, Clone, Copy)]
struct Word<'a> {
    text: &'a str,
    column: usize,
}

fn words(line: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte, column)
    for (col, (byte, c)) in line.char_indices().enumerate() {
        if c.is_whitespace() {
            if let Some((b, column)) = start.take() {
                out.push(Word {
                    text: &line[b..byte],
                    column,
                });
            }
        } else if start.is_none() {
            start = Some((byte, col + 1));
        }
    }
    if let Some((b, column)) = start {
        out.push(Word {
            text: &line[b..],
            column,
        });
    }
    out
}

/// The closest item of `candidates` to `word`, when it is close enough to be a typo.
fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn gate_names() -> impl Iterator<Item = &'static str> {
    GateKind::ALL.into_iter().map(GateKind::as_str)
}

/// Parses the text after the end of `/sdl` on one line.
fn parse_line(line: &str, lineno: usize) -> Result<Command, CommandError> {
    let ws = words(line);
    let err = |column: usize, kind: CommandErrorKind, suggestion: Option<String>| CommandError {
        text: line.trim().to_string(),
        line: lineno,
        column,
        kind,
        suggestion,
    };
    // ws[0] is `/sdl` itself.
    let Some(cmd) = ws.get(1) else {
        let col = ws.first().map(|w| w.column + 4).unwrap_or(1);
        return Err(err(
            col,
            CommandErrorKind::Missing,
            Some("/sdl help".into()),
        ));
    };
    let rest = &ws[2..];
    let word = cmd.text.to_ascii_lowercase();
    let no_args = |name: &'static str, c: Command| {
        if let Some(extra) = rest.first() {
            Err(err(
                extra.column,
                CommandErrorKind::UnexpectedArgument {
                    command: name,
                    extra: extra.text.to_string(),
                },
                Some(format!("/sdl {name}")),
            ))
        } else {
            Ok(c)
        }
    };
    let gate_arg = |name: &'static str| -> Result<GateKind, CommandError> {
        let Some(g) = rest.first() else {
            return Err(err(
                cmd.column + cmd.text.chars().count() + 1,
                CommandErrorKind::MissingArgument {
                    command: name,
                    what: "a gate (threat_model, security_review, sast, dependencies, sbom)",
                },
                Some(format!("/sdl {name} sast")),
            ));
        };
        g.text.parse::<GateKind>().map_err(|_| {
            let suggestion = closest(&g.text.replace('-', "_"), gate_names()).map(|s| {
                let mut fixed = line.trim().to_string();
                fixed = fixed.replacen(g.text, s, 1);
                fixed
            });
            err(
                g.column,
                CommandErrorKind::UnknownGate(g.text.to_string()),
                suggestion,
            )
        })
    };
    match word.as_str() {
        "help" => no_args("help", Command::Help),
        "status" => no_args("status", Command::Status),
        "recheck" => no_args("recheck", Command::Recheck),
        "unwaive" => {
            let gate = gate_arg("unwaive")?;
            if let Some(extra) = rest.get(1) {
                return Err(err(
                    extra.column,
                    CommandErrorKind::UnexpectedArgument {
                        command: "unwaive",
                        extra: extra.text.to_string(),
                    },
                    Some(format!("/sdl unwaive {gate}")),
                ));
            }
            Ok(Command::Unwaive { gate })
        }
        "waive" => {
            let gate = gate_arg("waive")?;
            let mut expiry = Expiry::Default;
            let mut i = 1;
            while let Some(w) = rest.get(i) {
                let opt = w.text.to_ascii_lowercase();
                let (name, inline) = match opt.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (opt.clone(), None),
                };
                if !name.starts_with("--") {
                    break;
                }
                if name == "--" && inline.is_none() {
                    // The end of the options, as in a shell: what follows is the reason, even
                    // when it starts with `--`.
                    i += 1;
                    break;
                }
                if expiry != Expiry::Default || !matches!(name.as_str(), "--for" | "--until") {
                    return Err(err(
                        w.column,
                        CommandErrorKind::UnknownOption(w.text.to_string()),
                        closest(&name, ["--for", "--until"]).map(|s| format!("{s} …")),
                    ));
                }
                let (value, consumed) = match inline {
                    Some(v) => (v, 1),
                    None => match rest.get(i + 1) {
                        Some(v) => (v.text.to_string(), 2),
                        None => {
                            return Err(err(
                                w.column,
                                CommandErrorKind::MissingArgument {
                                    command: "waive",
                                    what: "a value after the option",
                                },
                                Some(format!(
                                    "/sdl waive {gate} {name} {} <reason>",
                                    if name == "--for" { "14d" } else { "2027-01-31" }
                                )),
                            ));
                        }
                    },
                };
                expiry = if name == "--for" {
                    parse_duration(&value).ok_or_else(|| {
                        err(
                            w.column,
                            CommandErrorKind::BadDuration(value.clone()),
                            Some(format!("/sdl waive {gate} --for 14d <reason>")),
                        )
                    })?
                } else {
                    NaiveDate::parse_from_str(&value, "%Y-%m-%d")
                        .map(Expiry::Until)
                        .map_err(|_| {
                            err(
                                w.column,
                                CommandErrorKind::BadDate(value.clone()),
                                Some(format!("/sdl waive {gate} --until 2027-01-31 <reason>")),
                            )
                        })?
                };
                i += consumed;
            }
            let reason_words: Vec<&str> = rest.iter().skip(i).map(|w| w.text).collect();
            if reason_words.is_empty() {
                return Err(err(
                    rest.last()
                        .map(|w| w.column + w.text.chars().count() + 1)
                        .unwrap_or(cmd.column),
                    CommandErrorKind::MissingArgument {
                        command: "waive",
                        what: "a reason",
                    },
                    Some(format!("{} <why the risk is accepted>", line.trim())),
                ));
            }
            Ok(Command::Waive {
                gate,
                expiry,
                reason: reason_words.join(" "),
            })
        }
        "explain" => match rest {
            [] => Err(err(
                cmd.column + cmd.text.chars().count() + 1,
                CommandErrorKind::MissingArgument {
                    command: "explain",
                    what: "a gate or a requirement id such as SR-2",
                },
                Some("/sdl explain threat_model".into()),
            )),
            [topic] => Ok(Command::Explain {
                topic: topic.text.to_string(),
            }),
            [_, extra, ..] => Err(err(
                extra.column,
                CommandErrorKind::UnexpectedArgument {
                    command: "explain",
                    extra: extra.text.to_string(),
                },
                None,
            )),
        },
        "threat-model" | "threat_model" | "threatmodel" => match rest {
            [] => Err(err(
                cmd.column + cmd.text.chars().count() + 1,
                CommandErrorKind::MissingArgument {
                    command: "threat-model",
                    what: "a URL or an issue reference like #123",
                },
                Some("/sdl threat-model https://…".into()),
            )),
            [r] => Ok(Command::ThreatModel {
                reference: r.text.to_string(),
            }),
            [_, extra, ..] => Err(err(
                extra.column,
                CommandErrorKind::UnexpectedArgument {
                    command: "threat-model",
                    extra: extra.text.to_string(),
                },
                None,
            )),
        },
        _ => Err(err(
            cmd.column,
            CommandErrorKind::Unknown(cmd.text.to_string()),
            Some(match closest(&word, COMMANDS) {
                Some(c) => format!("/sdl {c}"),
                None => "/sdl help".to_string(),
            }),
        )),
    }
}

/// Parses `14d`, `48h`, `2w` (days, hours, weeks) into hours; `None` for anything else,
/// zero or absurdly long spans.
fn parse_duration(v: &str) -> Option<Expiry> {
    let v = v.trim().to_ascii_lowercase();
    let split = v.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = v.split_at(split);
    let n: u32 = num.parse().ok()?;
    let hours = match unit {
        "d" | "day" | "days" => n.checked_mul(24)?,
        "h" | "hour" | "hours" => n,
        "w" | "week" | "weeks" => n.checked_mul(24 * 7)?,
        _ => return None,
    };
    (hours > 0 && hours <= 24 * 3660).then_some(Expiry::For { hours })
}

/// Does this line open or close a fenced code block? Returns the fence characters.
fn fence(line: &str) -> Option<(char, usize)> {
    let t = line.trim_start_matches(' ');
    if line.len() - t.len() > 3 {
        return None;
    }
    let c = t.chars().next()?;
    if c != '`' && c != '~' {
        return None;
    }
    let n = t.chars().take_while(|&x| x == c).count();
    (n >= 3).then_some((c, n))
}

/// Finds and parses every `/sdl` command in a comment, in order, skipping code and quotes.
pub fn parse_comment(body: &str) -> Vec<Parsed> {
    let mut out = Vec::new();
    let mut open_fence: Option<(char, usize)> = None;
    for (i, raw) in body.lines().enumerate() {
        let lineno = i + 1;
        if let Some((c, n)) = open_fence {
            if let Some((c2, n2)) = fence(raw)
                && c2 == c
                && n2 >= n
                && raw.trim().chars().all(|x| x == c)
            {
                open_fence = None;
            }
            continue;
        }
        if let Some(f) = fence(raw) {
            open_fence = Some(f);
            continue;
        }
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        if indent >= 4 || raw.starts_with('\t') {
            continue; // indented code block
        }
        let line = raw.trim();
        if line.starts_with('>') {
            continue; // quote
        }
        let Some(head) = line.get(..4) else { continue };
        if !head.eq_ignore_ascii_case("/sdl") {
            continue;
        }
        // `/sdlfoo` is not a command; `/sdl` must stand as a word.
        if line[4..].chars().next().is_some_and(|c| !c.is_whitespace()) {
            continue;
        }
        let offset = raw.len() - raw.trim_start().len();
        out.push(
            parse_line(line, lineno)
                .map(|c| (lineno, c))
                .map_err(|mut e| {
                    e.column += raw[..offset].chars().count();
                    e
                }),
        );
    }
    out
}
