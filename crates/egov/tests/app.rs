//! End-to-end tests of the egov binary and its composed router: one test
//! binary, so the workspace links it once.

mod app {
    pub mod catalogue;
    pub mod cli;
    pub mod shell;
    pub mod support;
}
