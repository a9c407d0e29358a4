//! Numbered schema migrations, applied in order at start; `PRAGMA user_version` records the last.

use rusqlite::Connection;

use super::StoreError;

/// Every migration, in order. Never edit a released one: add the next number.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/0001_init.sql")),
    (
        "0002_integration_url_secret",
        include_str!("migrations/0002_integration_url_secret.sql"),
    ),
    (
        "0003_run_metrics",
        include_str!("migrations/0003_run_metrics.sql"),
    ),
    ("0004_launch", include_str!("migrations/0004_launch.sql")),
    (
        "0005_installed_plugins",
        include_str!("migrations/0005_installed_plugins.sql"),
    ),
    (
        "0006_integration_grants",
        include_str!("migrations/0006_integration_grants.sql"),
    ),
    (
        "0007_agent_keys",
        include_str!("migrations/0007_agent_keys.sql"),
    ),
    (
        "0008_item_output",
        include_str!("migrations/0008_item_output.sql"),
    ),
    (
        "0009_run_liveness",
        include_str!("migrations/0009_run_liveness.sql"),
    ),
    (
        "0010_secret_rotation",
        include_str!("migrations/0010_secret_rotation.sql"),
    ),
    (
        "0011_integration_health",
        include_str!("migrations/0011_integration_health.sql"),
    ),
    ("0012_tasks", include_str!("migrations/0012_tasks.sql")),
    ("0013_audit", include_str!("migrations/0013_audit.sql")),
    (
        "0014_retention_marks",
        include_str!("migrations/0014_retention_marks.sql"),
    ),
    (
        "0015_finished_hash",
        include_str!("migrations/0015_finished_hash.sql"),
    ),
    (
        "0016_claim_key",
        include_str!("migrations/0016_claim_key.sql"),
    ),
];

/// Applies the migrations the database has not seen yet, each in its own transaction.
pub(super) fn apply(connection: &mut Connection) -> Result<(), StoreError> {
    let current: usize =
        connection.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database is at schema version {current}, newer than this herald ({}); upgrade herald",
            MIGRATIONS.len()
        )));
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = connection.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
        tracing::info!(migration = name, "applied database migration");
    }
    Ok(())
}
