//! sdl-gate: enforces the IEC 62443-4-1 secure development lifecycle on pull requests and
//! merge requests, and keeps the evidence.
//!
//! The pure core — [`policy`], [`practices`], [`publication`], [`snapshot`], [`reports`], [`gates`],
//! [`waivers`], [`commands`], [`action`], [`gitlab_ci`], [`patch`], [`render`], [`audit`] and the
//! [`ledger`]'s entry format, hashing and Merkle tree, with the
//! leaves [`forge_name`], [`capabilities`] and [`gate_kind`] — does no I/O; it is all the
//! library has without the `service` feature (on by default), which adds the modules below
//! and their crates (sqlx, axum, tokio, the clients). Around it: [`events`] turns webhook
//! deliveries into work items; [`server`], [`queue`] and [`store`] receive them, keep them
//! durably and hand each job to the [`engine`], which runs a change the same way on both
//! forges through the [`forge`] adapters (they read and send, and decide nothing) and
//! appends what it did to the tamper-evident [`ledger`] before anyone sees a verdict;
//! [`settings`] configures the service.

pub mod action;
pub mod audit;
pub mod capabilities;
pub mod commands;
#[cfg(feature = "service")]
pub mod engine;
#[cfg(feature = "service")]
pub mod events;
#[cfg(feature = "service")]
pub mod forge;
pub mod forge_name;
pub mod gate_kind;
pub mod gates;
pub mod gitlab_ci;
pub mod ledger;
pub mod merge_group;
#[cfg(feature = "service")]
pub mod metrics;
pub mod patch;
pub mod patch_id;
pub mod percent;
pub mod policy;
pub mod practices;
pub mod publication;
#[cfg(feature = "service")]
pub mod queue;
pub mod render;
pub mod reports;
#[cfg(feature = "service")]
pub mod server;
#[cfg(feature = "service")]
pub mod settings;
pub mod snapshot;
#[cfg(feature = "service")]
pub mod store;
pub mod waivers;
#[cfg(feature = "service")]
pub mod web;
