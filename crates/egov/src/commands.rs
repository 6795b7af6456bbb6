//! The operator commands besides serving: migrate, check-config, import.

use std::io::IsTerminal as _;
use std::path::Path;

use anyhow::Context as _;
use egov_core::clock::{Clock, SystemClock};
use egov_onestop::catalogue::import::{self, ImportError, ImportFormat, ImportMode};

use crate::config::Settings;
use crate::node;

/// `egov migrate`: applies pending migrations and says which.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = node::connect(settings).await?;
    let pending = db.pending_migrations().await?;
    db.migrate().await.context("Failed to migrate the database")?;
    if pending.is_empty() {
        println!("The database ({}) is up to date.", db.engine().as_str());
    } else {
        for migration in &pending {
            println!("applied {migration}");
        }
    }
    db.close().await;
    Ok(())
}

/// `egov check-config`: validates, connects, and prints the effective
/// settings with secrets redacted.
pub async fn check_config(settings: &Settings) -> anyhow::Result<()> {
    settings.require_secret_key()?;
    let db = node::connect(settings).await?;
    let pending = db.pending_migrations().await?;
    db.close().await;
    println!("{settings:#?}");
    println!(
        "The configuration is valid; the {} database answers.",
        db.engine().as_str()
    );
    if !pending.is_empty() {
        println!("{} migration(s) are pending: run `egov migrate`.", pending.len());
    }
    Ok(())
}

/// `egov import procedures FILE`: all rows or none.
pub async fn import_procedures(settings: &Settings, file: &Path, mode: ImportMode) -> anyhow::Result<()> {
    let format = ImportFormat::from_file_name(&file.to_string_lossy())
        .context("Unknown file type: use .csv, .json or .jsonl")?;
    let text = std::fs::read_to_string(file).with_context(|| format!("Failed to read {}", file.display()))?;
    let rows = import::parse_file(format, &text)?;
    let db = node::connect(settings).await?;
    db.migrate().await.context("Failed to migrate the database")?;
    egov_onestop::seed::load_reference(&db)
        .await
        .context("Failed to load reference data")?;

    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} procedures ({eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "operator".to_owned())
    );
    let result = import::import(&db, rows, mode, &actor, SystemClock.now(), &|done| {
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    db.close().await;
    match result {
        Ok(report) => {
            println!(
                "Imported {}: {} new, {} updated, {} left as they were.",
                file.display(),
                report.inserted,
                report.updated,
                report.skipped
            );
            Ok(())
        }
        Err(ImportError::Rows(errors)) => {
            for error in &errors {
                eprintln!("{}:{error}", file.display());
            }
            anyhow::bail!(
                "{} bad row(s) in {}; nothing was imported",
                errors.len(),
                file.display()
            )
        }
        Err(error) => Err(error.into()),
    }
}
