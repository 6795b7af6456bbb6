//! The signed result document (kết quả giải quyết thủ tục hành chính) of a dossier: a one-page
//! A4 PDF and a detached ES256 signature over its bytes.
//!
//! This crate renders and signs; it must not store documents, read the clock or reach the
//! network, so the same input always gives the same bytes and the same signature.

pub mod render;
pub mod sign;

pub use render::{CreationDate, RenderError, ResultDocument, ResultRenderer};
pub use sign::{AgencySigningKey, DetachedSignature, KeyError, SignError, VerifyError, verify};
