//! The service's pages for people: the change page every check run links to, the repository
//! dashboard and the auditor report per release, each behind a login that fails closed.
pub mod views;
