//! The client commands.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use clap::Subcommand;
use dbaas_client::Client;
use dbaas_model::*;

use crate::{output, ClientArgs, Format};

#[derive(Subcommand)]
pub enum DbCommand {
    /// Create a database.
    Create {
        name: String,
        #[arg(long, default_value = "postgresql")]
        engine: String,
        /// Engine major version (the agent's default when absent).
        #[arg(long)]
        version: Option<String>,
        /// Size of the data volume in GiB.
        #[arg(long)]
        size_gb: Option<i64>,
        /// Wait until the database is ready, showing progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List databases.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a database.
    Show {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show how to connect to a database (includes the password).
    Connection {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Restore a backup into a new database.
    Restore {
        /// Name of the new database.
        name: String,
        /// The database whose backup to restore (it may have been deleted).
        #[arg(long)]
        from: String,
        /// The backup to restore; the newest of --from when absent.
        #[arg(long)]
        backup: Option<String>,
        /// Size of the new data volume in GiB.
        #[arg(long)]
        size_gb: Option<i64>,
        /// Recover to this moment (RFC 3339, e.g. 2026-11-25T15:30:00Z).
        #[arg(long, conflicts_with = "target_lsn")]
        target_time: Option<chrono::DateTime<chrono::Utc>>,
        /// Recover to this WAL position (e.g. 0/3000060).
        #[arg(long)]
        target_lsn: Option<String>,
        /// Read the backups from this named store of another cloud.
        #[arg(long)]
        store: Option<String>,
        /// Wait until the database is ready, showing progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Grow the data volume of a database (it keeps serving meanwhile;
    /// volumes never shrink).
    Resize {
        name: String,
        /// The new size in GiB, larger than the current one.
        #[arg(long)]
        size_gb: i64,
        /// Wait until the volume has grown, showing progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a database and everything provisioned for it (not its backups).
    Delete {
        name: String,
        /// Wait until it is gone, showing progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Take a base backup of a database.
    Create {
        name: String,
        /// Wait until the backup is in the store, showing progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the backups of a database, oldest first.
    List {
        name: String,
        /// Read this named store of another cloud.
        #[arg(long)]
        store: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a backup.
    Show {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Run a restore drill: restore into a throw-away engine, check it, record the result.
    Verify {
        id: String,
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Set when a database is backed up by itself and which backups are kept.
    Schedule {
        name: String,
        /// Cron expression in UTC, e.g. "0 3 * * *" (daily at 03:00).
        #[arg(long)]
        cron: Option<String>,
        /// Keep the newest N backups.
        #[arg(long)]
        keep_last: Option<u32>,
        /// Keep every backup of the last D days.
        #[arg(long)]
        keep_days: Option<u32>,
        /// Cron expression in UTC for restore drills of the newest backup.
        #[arg(long)]
        verify_cron: Option<String>,
        /// Remove the schedule and retention.
        #[arg(long, conflicts_with_all = ["cron", "keep_last", "keep_days", "verify_cron"])]
        off: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a backup from the store.
    Delete {
        id: String,
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
pub enum OpCommand {
    /// List operations, newest first.
    List {
        /// Only operations on this database.
        #[arg(long)]
        target: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show an operation and its steps.
    Show {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Wait for an operation to finish, showing progress.
    Wait {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
pub enum HostsCommand {
    /// List the host pairs: zone, hosts, capacity and use.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub async fn hosts(cmd: HostsCommand) -> anyhow::Result<()> {
    match cmd {
        HostsCommand::List { client: a } => {
            output::host_pairs(&client(&a).list_hosts().await?, a.output)
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// Remove the orphaned resources found (never a database).
    #[arg(long)]
    fix: bool,
    #[command(flatten)]
    client: ClientArgs,
}

pub async fn doctor(a: DoctorArgs) -> anyhow::Result<()> {
    let report = client(&a.client).doctor(a.fix).await?;
    output::doctor(&report, a.client.output);
    // Something left to act on is a failure for scripts.
    let unresolved = report.orphans.len() > report.removed.len() || !report.broken.is_empty();
    if unresolved {
        anyhow::bail!(
            "{} orphaned resource(s){}, {} broken database(s)",
            report.orphans.len() - report.removed.len(),
            if a.fix {
                " could not be removed"
            } else {
                " (remove them with --fix)"
            },
            report.broken.len()
        );
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum SqlCommand {
    /// Run SQL against a database, as its owner.
    Run {
        /// The dbaas database.
        name: String,
        /// The SQL text.
        #[arg(
            long,
            short = 'c',
            conflicts_with = "file",
            required_unless_present = "file"
        )]
        command: Option<String>,
        /// A file holding the SQL text.
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
        /// PostgreSQL database to connect to (the database's own by default).
        #[arg(long, short = 'd')]
        database: Option<String>,
        /// Wait for the job and print its output.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a SQL job and its output.
    Show {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn client(a: &ClientArgs) -> Client {
    Client::new(&a.address)
}

/// Waits for an operation, printing each step as it completes when stderr
/// is a terminal and the output is a table. Fails unless it succeeded.
async fn wait(c: &Client, op: &Operation, f: Format) -> anyhow::Result<Operation> {
    let show = f == Format::Table && std::io::stderr().is_terminal();
    let mut printed = 0usize;
    if show {
        eprintln!("{} {} ({})", verb(op.kind), op.target, op.id);
    }
    let done = c
        .wait_operation(&op.id, |o| {
            if !show {
                return;
            }
            let finished: Vec<&StepRecord> = o
                .steps
                .iter()
                .filter(|s| matches!(s.state, StepState::Done | StepState::Failed))
                .collect();
            for s in finished.iter().skip(printed) {
                let took = match (s.started_at, s.finished_at) {
                    (Some(a), Some(b)) => {
                        format!(" ({:.2}s)", (b - a).num_milliseconds() as f64 / 1000.0)
                    }
                    _ => String::new(),
                };
                let mark = if s.state == StepState::Done {
                    "ok  "
                } else {
                    "FAIL"
                };
                eprintln!("  {mark} {}{took}", s.name);
            }
            printed = printed.max(finished.len());
            if o.state == OperationState::Unwinding {
                eprintln!("  undoing the completed steps...");
            }
        })
        .await?;
    match done.state {
        OperationState::Succeeded => Ok(done),
        OperationState::Unwound => bail!(
            "{} {} failed and was undone: {}",
            verb(done.kind),
            done.target,
            done.error.clone().unwrap_or_default()
        ),
        _ => bail!(
            "{} {} failed: {}",
            verb(done.kind),
            done.target,
            done.error.clone().unwrap_or_default()
        ),
    }
}

/// Prints an accepted operation; with `wait`, waits for it (showing
/// progress) and prints the finished operation as JSON, or, for people,
/// what `show` prints of its result.
async fn follow(
    c: &Client,
    op: Operation,
    wait_for_it: bool,
    f: Format,
    show: impl AsyncFnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if !wait_for_it {
        output::operation(&op, f);
        return Ok(());
    }
    let done = wait(c, &op, f).await?;
    if f == Format::Json {
        output::json(&done);
        Ok(())
    } else {
        show().await
    }
}

fn verb(k: OperationKind) -> &'static str {
    match k {
        OperationKind::CreateDatabase => "creating",
        OperationKind::DeleteDatabase => "deleting",
        OperationKind::RunSql => "running SQL on",
        OperationKind::CreateBackup => "backing up",
        OperationKind::DeleteBackup => "deleting a backup of",
        OperationKind::RestoreDatabase => "restoring into",
        OperationKind::VerifyBackup => "verifying a backup of",
        OperationKind::ResizeDatabase => "resizing",
    }
}

pub async fn db(cmd: DbCommand) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Create {
            name,
            engine,
            version,
            size_gb,
            wait: w,
            client: a,
        } => {
            let c = client(&a);
            let req = CreateDatabaseRequest {
                name: name.clone(),
                engine: Some(engine),
                version,
                size_gb,
            };
            let op = c.create_database(&req).await?;
            follow(&c, op, w, a.output, async || {
                output::database(&c.get_database(&name).await?, a.output);
                Ok(())
            })
            .await?;
        }
        DbCommand::List { client: a } => {
            output::databases(&client(&a).list_databases().await?, a.output)
        }
        DbCommand::Show { name, client: a } => {
            output::database(&client(&a).get_database(&name).await?, a.output)
        }
        DbCommand::Connection { name, client: a } => {
            output::connection(&client(&a).connection(&name).await?, a.output)
        }
        DbCommand::Restore {
            name,
            from,
            backup,
            size_gb,
            target_time,
            target_lsn,
            store,
            wait: w,
            client: a,
        } => {
            let c = client(&a);
            let req = RestoreDatabaseRequest {
                from,
                backup,
                size_gb,
                target_time,
                target_lsn,
                store,
            };
            let op = c.restore_database(&name, &req).await?;
            follow(&c, op, w, a.output, async || {
                output::database(&c.get_database(&name).await?, a.output);
                Ok(())
            })
            .await?;
        }
        DbCommand::Resize {
            name,
            size_gb,
            wait: w,
            client: a,
        } => {
            let c = client(&a);
            let op = c.resize_database(&name, size_gb).await?;
            follow(&c, op, w, a.output, async || {
                output::database(&c.get_database(&name).await?, a.output);
                Ok(())
            })
            .await?;
        }
        DbCommand::Delete {
            name,
            wait: w,
            client: a,
        } => {
            let c = client(&a);
            let op = c.delete_database(&name).await?;
            follow(&c, op, w, a.output, async || {
                println!("database {name} deleted");
                Ok(())
            })
            .await?;
        }
    }
    Ok(())
}

pub async fn op(cmd: OpCommand) -> anyhow::Result<()> {
    match cmd {
        OpCommand::List { target, client: a } => output::operations(
            &client(&a).list_operations(target.as_deref()).await?,
            a.output,
        ),
        OpCommand::Show { id, client: a } => {
            output::operation(&client(&a).get_operation(&id).await?, a.output)
        }
        OpCommand::Wait { id, client: a } => {
            let c = client(&a);
            let op = c.get_operation(&id).await?;
            let done = wait(&c, &op, a.output).await?;
            output::operation(&done, a.output);
        }
    }
    Ok(())
}

pub async fn sql(cmd: SqlCommand) -> anyhow::Result<()> {
    match cmd {
        SqlCommand::Run {
            name,
            command,
            file,
            database,
            wait: w,
            client: a,
        } => {
            let sql = match (command, file) {
                (Some(s), _) => s,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?,
                (None, None) => return Err(anyhow!("give the SQL with --command or --file")),
            };
            let c = client(&a);
            let op = c
                .submit_sql(&name, &SqlJobRequest { sql, database })
                .await?;
            if !w {
                output::operation(&op, a.output);
                return Ok(());
            }
            // The job's output is shown whether it succeeded or not.
            let done = c.wait_operation(&op.id, |_| {}).await?;
            let job = c.get_sql_job(&op.id).await?;
            output::sql_job(&job, a.output);
            if done.state != OperationState::Succeeded {
                bail!(
                    "the SQL job {} failed: {}",
                    op.id,
                    done.error.unwrap_or_default()
                );
            }
        }
        SqlCommand::Show { id, client: a } => {
            output::sql_job(&client(&a).get_sql_job(&id).await?, a.output)
        }
    }
    Ok(())
}

pub async fn backup(cmd: BackupCommand) -> anyhow::Result<()> {
    match cmd {
        BackupCommand::Create {
            name,
            wait: w,
            client: a,
        } => {
            let c = client(&a);
            let op = c.create_backup(&name).await?;
            let id = op.id.clone();
            follow(&c, op, w, a.output, async || {
                output::backup(&c.get_backup(&id).await?, a.output);
                Ok(())
            })
            .await?;
        }
        BackupCommand::List {
            name,
            store,
            client: a,
        } => output::backups(
            &client(&a).list_backups_in(&name, store.as_deref()).await?,
            a.output,
        ),
        BackupCommand::Show { id, client: a } => {
            output::backup(&client(&a).get_backup(&id).await?, a.output)
        }
        BackupCommand::Verify {
            id,
            wait: w,
            client: a,
        } => {
            let c = client(&a);
            let op = c.verify_backup(&id).await?;
            if !w {
                output::operation(&op, a.output);
                return Ok(());
            }
            let done = c.wait_operation(&op.id, |_| {}).await?;
            let b = c.get_backup(&id).await?;
            output::backup(&b, a.output);
            if done.state != OperationState::Succeeded {
                bail!("{}", done.error.unwrap_or_default());
            }
        }
        BackupCommand::Schedule {
            name,
            cron,
            keep_last,
            keep_days,
            verify_cron,
            off,
            client: a,
        } => {
            let policy = if off {
                BackupPolicy::default()
            } else {
                BackupPolicy {
                    schedule: cron,
                    keep_last,
                    keep_days,
                    verify_schedule: verify_cron,
                }
            };
            output::database(
                &client(&a).set_backup_policy(&name, &policy).await?,
                a.output,
            );
        }
        BackupCommand::Delete {
            id,
            wait: w,
            client: a,
        } => {
            let c = client(&a);
            let op = c.delete_backup(&id).await?;
            follow(&c, op, w, a.output, async || {
                println!("backup {id} deleted");
                Ok(())
            })
            .await?;
        }
    }
    Ok(())
}
