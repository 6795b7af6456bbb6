//! The `egov` binary's library half: configuration, composition of the
//! subsystems into one router, the node's background work, and the
//! commands. `main.rs` only parses the command line and calls in here.

pub mod app;
pub mod commands;
pub mod config;
pub mod demo;
pub mod demo_mailbox;
pub mod gateway_commands;
pub mod gateway_page;
pub mod id_commands;
pub mod identify;
pub mod node;
pub mod population;
pub mod workers;
