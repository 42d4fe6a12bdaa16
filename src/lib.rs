//! sdl-gate: enforces the IEC 62443-4-1 secure development lifecycle on pull requests and
//! merge requests, and keeps the evidence.
//!
//! The pure core — [`policy`], [`practices`], [`snapshot`], [`reports`], [`gates`],
//! [`waivers`], [`commands`], [`action`], [`gitlab_ci`] and [`render`] — does no I/O and knows no forge.
//! Around it: [`forge`] fetches a snapshot and publishes what [`render`] produced;
//! [`events`] turns webhook deliveries into work items; [`server`], [`queue`] and [`store`]
//! receive them, keep them durably and run them; [`settings`] configures the service.

pub mod action;
pub mod commands;
pub mod events;
pub mod forge;
pub mod gates;
pub mod gitlab_ci;
pub mod policy;
pub mod practices;
pub mod queue;
pub mod render;
pub mod reports;
pub mod server;
pub mod settings;
pub mod snapshot;
pub mod store;
pub mod waivers;
pub mod worker;
