//! Metrics recorded outside the HTTP server: the forge clients count their API requests here,
//! so `forge/` does not depend on `server/`. The server installs the recorder and renders
//! `/metrics` (see `server::metrics`); without a recorder these calls are no-ops.

/// The name of the forge-request counter, labelled `forge` and `status`.
pub const FORGE_REQUESTS_TOTAL: &str = "sdl_gate_forge_requests_total";

/// Counts one forge API request (for the GitHub / GitLab clients).
pub fn forge_request(forge: &'static str, status: u16) {
    metrics::counter!(FORGE_REQUESTS_TOTAL, "forge" => forge, "status" => status.to_string())
        .increment(1);
}
