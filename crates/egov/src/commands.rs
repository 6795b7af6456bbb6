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

/// `egov registry grant-purpose`: a client system may read a dataset for a purpose.
pub async fn registry_grant_purpose(
    settings: &Settings,
    client: &str,
    dataset: &str,
    purpose: &str,
) -> anyhow::Result<()> {
    let db = node::connect(settings).await?;
    db.migrate().await.context("Failed to migrate the database")?;
    let registry = egov_registry::Registry::new(db.clone(), std::sync::Arc::new(SystemClock));
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "operator".to_owned())
    );
    let result = async {
        registry.ensure_shipped().await?;
        registry.grant_purpose(client, dataset, purpose, &actor).await
    }
    .await;
    db.close().await;
    result?;
    println!("{client} may read {dataset} for {purpose}.");
    Ok(())
}

/// `egov registry import --dataset NAME FILE.csv`: imports in chunks, each
/// all or nothing; prints every bad line and fails if there was one.
pub async fn registry_import(settings: &Settings, dataset: &str, file: &Path) -> anyhow::Result<()> {
    let lines = {
        use std::io::BufRead as _;
        let reader = std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("Failed to open {}", file.display()))?,
        );
        reader.split(b'\n').count().saturating_sub(1) as u64
    };
    let input = std::io::BufReader::with_capacity(
        1 << 20,
        std::fs::File::open(file).with_context(|| format!("Failed to open {}", file.display()))?,
    );
    let db = node::connect(settings).await?;
    db.migrate().await.context("Failed to migrate the database")?;
    let registry = egov_registry::Registry::new(db.clone(), std::sync::Arc::new(SystemClock));
    registry
        .ensure_shipped()
        .await
        .context("Failed to create the registries' datasets")?;

    let bar = indicatif::ProgressBar::new(lines);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} lines ({per_sec}, {eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "operator".to_owned())
    );
    let started = std::time::Instant::now();
    let result = registry
        .import_csv(dataset, input, &actor, &|done| bar.set_position(done))
        .await;
    bar.finish_and_clear();
    db.close().await;
    let report = result.with_context(|| format!("Failed to import {}", file.display()))?;
    for (line, error) in &report.errors {
        eprintln!("{}:{line}: {error}", file.display());
    }
    println!(
        "Imported {} into {dataset} in {:.1} s: {} new, {} updated, {} bad line(s) skipped.",
        file.display(),
        started.elapsed().as_secs_f64(),
        report.inserted,
        report.updated,
        report.errors.len()
    );
    anyhow::ensure!(
        report.errors.is_empty(),
        "{} bad line(s) in {}",
        report.errors.len(),
        file.display()
    );
    Ok(())
}

/// `egov registry generate --persons N [--seed S]`: a population CSV of
/// generated persons on standard output, the same for the same seed.
pub fn registry_generate(persons: usize, seed: u64) -> anyhow::Result<()> {
    use egov_registry::generate;

    let stdout = std::io::stdout();
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(stdout.lock()));
    writer.write_record(generate::POPULATION_COLUMNS)?;
    for person in generate::persons(seed, persons) {
        writer.write_record(person.row())?;
    }
    writer.flush()?;
    Ok(())
}
