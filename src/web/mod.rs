//! What the service shows to people in a browser: sign-in and access checks ([`auth`]).

pub mod auth;
