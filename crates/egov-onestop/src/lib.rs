//! The one-stop shop: today the public procedure catalogue and the agency
//! directory it stands on; dossiers, workflow, payments and results follow.
//!
//! Each part is a vertical slice: `domain` (pure rules), `store` (its SQL),
//! `http` (its pages and JSON API).

pub mod catalogue;
pub mod directory;
pub mod dossier;
pub mod seed;

pub use catalogue::Catalogue;
pub use catalogue::http::CatalogueApi;

/// The one-stop shop's routes.
pub fn router(catalogue: Catalogue) -> axum::Router {
    catalogue::http::router(catalogue)
}
