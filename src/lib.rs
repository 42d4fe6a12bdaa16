//! sdl-gate: enforces the IEC 62443-4-1 secure development lifecycle on pull requests and
//! merge requests, and keeps the evidence.
//!
//! The pure core — [`policy`], [`practices`], [`snapshot`], [`reports`], [`gates`],
//! [`waivers`] and [`render`] — does no I/O and knows no forge. The layers around it fetch a
//! snapshot, call [`gates::evaluate`] and publish what [`render`] produced.

pub mod action;
pub mod commands;
pub mod forge;
pub mod gates;
pub mod policy;
pub mod practices;
pub mod render;
pub mod reports;
pub mod snapshot;
pub mod waivers;

// Service backbone (`sdl-gate serve`): I/O lives here, outside the pure core.
pub mod events;
pub mod queue;
pub mod server;
pub mod settings;
pub mod store;
