//! `/sdl` comment commands: the grammar (pure parser with positioned errors and suggestions)
//! and the authorisation rules (who may waive, unwaive or record a threat-model reference).
//!
//! The forge layers feed comment bodies in and act on what comes out; nothing here does I/O.

mod authorize;
mod parser;

pub use authorize::{
    Actor, Permission, Refusal, grant_waiver, is_open_to_all, may_record_threat_model, may_unwaive,
    may_waive, who_may_waive,
};
pub use parser::{
    COMMANDS, Command, CommandError, CommandErrorKind, Expiry, Parsed, parse_comment,
};
