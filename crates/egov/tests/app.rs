//! End-to-end tests of the egov binary and its composed router: one test
//! binary, so the workspace links it once.

mod app {
    mod account;
    mod admin;
    mod catalogue;
    mod cli;
    mod client_options;
    mod crash;
    mod dossier_deadlines;
    mod dossier_pages;
    mod dossier_payments;
    mod dossiers;
    mod federation;
    mod gateway;
    mod id;
    mod portal;
    mod prefill;
    mod registry;
    mod shell;
    mod support;
    mod upstream;
}
