//! PostgreSQL, the first engine: its server configuration, how the control
//! plane provisions a database's owner, and how a user's SQL job runs.
//!
//! User text never reaches SQL by splicing: identifiers go through
//! [`quote_ident`], the one literal the agent builds itself (a generated
//! password) through [`quote_literal`], lookups use bind parameters, and a
//! job's SQL is sent to the server as the job's whole text.

use std::time::Duration;

use dbaas_drivers::AdminAccess;
use dbaas_model::{SqlError, SqlNotice, SqlOutput, StatementResult};
use futures_util::{stream, StreamExt};
use tokio_postgres::{AsyncMessage, Client, NoTls, SimpleQueryMessage};

/// The superuser every engine is initialised with.
pub const SUPERUSER: &str = "postgres";

/// Quotes an identifier for PostgreSQL: double quotes, inner quotes doubled.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quotes a string literal (standard_conforming_strings is on in every
/// supported version): single quotes, inner quotes doubled.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Quotes a value for postgresql.conf.
fn conf_value(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// Continuous archiving: finished WAL files are copied into `spool_dir`
/// (on the database's own volume), from where the agent ships them.
#[derive(Debug, Clone)]
pub struct ArchiveConf {
    pub spool_dir: String,
    /// Force a WAL switch after this many seconds of activity, bounding
    /// how much committed work is not archived yet.
    pub timeout_seconds: u64,
}

/// Quotes a string for a POSIX shell: single quotes, inner quotes closed,
/// escaped and reopened. archive_command runs under `sh -c`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The settings dbaas owns, written to `dbaas.conf` and included by
/// `postgresql.conf`.
pub fn server_conf(
    listen_host: &str,
    port: u16,
    socket_dir: &str,
    archive: Option<&ArchiveConf>,
) -> String {
    let mut conf = format!(
        "# Written by dbaas; changes are overwritten.\n\
         listen_addresses = {}\n\
         port = {port}\n\
         unix_socket_directories = {}\n\
         unix_socket_permissions = 0700\n\
         password_encryption = 'scram-sha-256'\n\
         logging_collector = off\n",
        conf_value(listen_host),
        conf_value(socket_dir),
    );
    if let Some(a) = archive {
        // The file appears under its final name only once complete (cp to
        // a temporary name, then mv), and an existing file is never
        // overwritten: PostgreSQL may retry a file it already archived.
        // Success is reported only once the copy and its name are on disk
        // (sync FILE, sync DIR): PostgreSQL recycles the segment as soon
        // as the command succeeds, so a copy still in the page cache would
        // be lost with the host.
        let final_path = format!("{}/%f", a.spool_dir);
        let command = format!(
            "test ! -f {dst} && cp %p {tmp} && sync {tmp} && mv {tmp} {dst} && sync {dir}",
            dst = shell_quote(&final_path),
            tmp = shell_quote(&format!("{final_path}.part")),
            dir = shell_quote(&a.spool_dir),
        );
        conf.push_str(&format!(
            "wal_level = replica\narchive_mode = on\narchive_command = {}\narchive_timeout = {}\n",
            conf_value(&command),
            a.timeout_seconds
        ));
    }
    conf
}

/// Client authentication: anything on the private socket (reachable by
/// the agent alone) is trusted, including the superuser's replication
/// connections that base backups use; over the network the superuser is
/// refused and everyone else needs a SCRAM password.
pub const HBA_CONF: &str = "# Written by dbaas.\n\
local   all   all                 trust\n\
local   replication   postgres    trust\n\
host    all   postgres  all       reject\n\
host    all   all       all       scram-sha-256\n";

/// A failure talking to PostgreSQL, with the server's message.
#[derive(Debug, Clone)]
pub struct PgError(pub String);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => PgError(format!("{} (SQLSTATE {})", db.message(), db.code().code())),
            None => PgError(e.to_string()),
        }
    }
}

fn config(access: &AdminAccess, user: &str, database: &str) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    c.host(&access.host)
        .port(access.port)
        .user(user)
        .dbname(database)
        .application_name("dbaas")
        .connect_timeout(Duration::from_secs(5));
    if user == access.superuser {
        if let Some(p) = &access.password {
            c.password(p);
        }
    }
    c
}

/// Connects over the admin access as `user`, driving the connection in the
/// background and discarding notices.
pub async fn connect(access: &AdminAccess, user: &str, database: &str) -> Result<Client, PgError> {
    let (client, conn) = config(access, user, database).connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// True when the engine accepts a connection and answers a query.
pub async fn ping(access: &AdminAccess) -> bool {
    let attempt = async {
        let c = connect(access, &access.superuser, "postgres").await?;
        c.simple_query("SELECT 1").await?;
        Ok::<_, PgError>(())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), attempt).await,
        Ok(Ok(()))
    )
}

/// Creates the owner role (with `password`) and the database it owns,
/// unless they exist; resets the password when the role exists, so a
/// re-run converges on the recorded one.
pub async fn ensure_owner(
    access: &AdminAccess,
    database: &str,
    owner: &str,
    password: &str,
) -> Result<(), PgError> {
    let c = connect(access, &access.superuser, "postgres").await?;
    let role_exists = !c
        .query("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&owner])
        .await?
        .is_empty();
    let verb = if role_exists { "ALTER" } else { "CREATE" };
    c.batch_execute(&format!(
        "{verb} ROLE {} LOGIN PASSWORD {}",
        quote_ident(owner),
        quote_literal(password)
    ))
    .await?;
    let db_exists = !c
        .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
        .await?
        .is_empty();
    if !db_exists {
        c.batch_execute(&format!(
            "CREATE DATABASE {} OWNER {}",
            quote_ident(database),
            quote_ident(owner)
        ))
        .await?;
    }
    Ok(())
}

/// After a restore: the source database's owner role and database take the
/// new name, and the role a new password. Idempotent: once renamed, only
/// the password is set again.
pub async fn adopt_owner(
    access: &AdminAccess,
    source: &str,
    name: &str,
    password: &str,
) -> Result<(), PgError> {
    let c = connect(access, &access.superuser, "postgres").await?;
    let exists = |sql: &'static str, n: String| {
        let c = &c;
        async move { Ok::<bool, PgError>(!c.query(sql, &[&n]).await?.is_empty()) }
    };
    let role_sql = "SELECT 1 FROM pg_roles WHERE rolname = $1";
    let db_sql = "SELECT 1 FROM pg_database WHERE datname = $1";
    if source != name {
        if !exists(role_sql, name.to_string()).await?
            && exists(role_sql, source.to_string()).await?
        {
            c.batch_execute(&format!(
                "ALTER ROLE {} RENAME TO {}",
                quote_ident(source),
                quote_ident(name)
            ))
            .await?;
        }
        if !exists(db_sql, name.to_string()).await? && exists(db_sql, source.to_string()).await? {
            c.batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                quote_ident(source),
                quote_ident(name)
            ))
            .await?;
        }
    }
    if !exists(role_sql, name.to_string()).await? || !exists(db_sql, name.to_string()).await? {
        return Err(PgError(format!(
            "the restored data has no role and database {source:?} to take over"
        )));
    }
    c.batch_execute(&format!(
        "ALTER ROLE {} LOGIN PASSWORD {}",
        quote_ident(name),
        quote_literal(password)
    ))
    .await?;
    Ok(())
}

/// Settings that make a restored data directory replay archived WAL to a
/// target and then promote (appended to postgresql.auto.conf).
pub fn recovery_settings(
    restore_command: &str,
    target_time: Option<&str>,
    target_lsn: Option<&str>,
) -> String {
    let mut s = format!("restore_command = {}\n", conf_value(restore_command));
    if let Some(t) = target_time {
        s.push_str(&format!("recovery_target_time = {}\n", conf_value(t)));
    }
    if let Some(l) = target_lsn {
        s.push_str(&format!("recovery_target_lsn = {}\n", conf_value(l)));
    }
    s.push_str("recovery_target_action = 'promote'\n");
    // No read-only connections while recovering: the server then reports
    // itself ready only once promoted, which is when dbaas may write.
    s.push_str("hot_standby = 'off'\n");
    s
}

/// The WAL file holding the last byte written so far (on a primary).
pub async fn last_written_wal_file(access: &AdminAccess) -> Result<String, PgError> {
    let c = connect(access, &access.superuser, "postgres").await?;
    let row = c
        .query_one("SELECT pg_walfile_name(pg_current_wal_lsn() - 1)", &[])
        .await?;
    Ok(row.get(0))
}

/// Closes the current WAL file, so that it is archived now.
pub async fn switch_wal(access: &AdminAccess) -> Result<(), PgError> {
    let c = connect(access, &access.superuser, "postgres").await?;
    c.batch_execute("SELECT pg_switch_wal()").await?;
    Ok(())
}

/// Removes the recovery settings once a restored database is promoted.
pub async fn clear_recovery_settings(access: &AdminAccess) -> Result<(), PgError> {
    let c = connect(access, &access.superuser, "postgres").await?;
    // One statement at a time: ALTER SYSTEM refuses to run inside the
    // implicit transaction of a multi-statement query.
    for setting in [
        "restore_command",
        "recovery_target_time",
        "recovery_target_lsn",
        "recovery_target_action",
        "hot_standby",
    ] {
        c.batch_execute(&format!("ALTER SYSTEM RESET {setting}"))
            .await?;
    }
    Ok(())
}

/// Limits applied to a SQL job.
#[derive(Debug, Clone)]
pub struct JobLimits {
    /// Stop keeping rows once the captured output reaches this size.
    pub max_output_bytes: usize,
    /// Server-side statement timeout.
    pub statement_timeout: Duration,
}

/// Runs a user's SQL as `user` (with its `password`) against `database`
/// and captures what the
/// server returns: rows of each statement, notices, and the error with its
/// SQLSTATE. An error from the server is part of the output, not a failure
/// of the job runner; `Err` means the engine could not be reached.
pub async fn run_job(
    access: &AdminAccess,
    (user, password): (&str, &str),
    database: &str,
    sql: &str,
    limits: &JobLimits,
) -> Result<SqlOutput, PgError> {
    let mut cfg = config(access, user, database);
    // Over the network the engine asks for the user's own password (over
    // the local socket it does not ask, and none is sent).
    cfg.password(password);
    cfg.options(format!(
        "-c statement_timeout={}",
        limits.statement_timeout.as_millis()
    ));
    let (client, mut conn) = cfg.connect(NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notice(n)) => {
                    let _ = tx.send(SqlNotice {
                        severity: n.severity().to_string(),
                        sqlstate: n.code().code().to_string(),
                        message: n.message().to_string(),
                    });
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });

    let mut out = SqlOutput::default();
    let mut size = 0usize;
    match client.simple_query(sql).await {
        Ok(messages) => {
            let mut current: Option<StatementResult> = None;
            for m in messages {
                match m {
                    SimpleQueryMessage::RowDescription(cols) => {
                        current = Some(StatementResult {
                            columns: cols.iter().map(|c| c.name().to_string()).collect(),
                            rows: vec![],
                            rows_affected: 0,
                        });
                    }
                    SimpleQueryMessage::Row(row) => {
                        let cur = current.get_or_insert_with(|| StatementResult {
                            columns: row.columns().iter().map(|c| c.name().to_string()).collect(),
                            rows: vec![],
                            rows_affected: 0,
                        });
                        let values: Vec<Option<String>> = (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect();
                        let row_size: usize = values
                            .iter()
                            .map(|v| v.as_ref().map_or(4, |s| s.len() + 3))
                            .sum();
                        if size + row_size > limits.max_output_bytes {
                            out.truncated = true;
                        } else {
                            size += row_size;
                            cur.rows.push(values);
                        }
                    }
                    SimpleQueryMessage::CommandComplete(n) => {
                        let mut r = current.take().unwrap_or(StatementResult {
                            columns: vec![],
                            rows: vec![],
                            rows_affected: 0,
                        });
                        r.rows_affected = n;
                        out.statements.push(r);
                    }
                    _ => {}
                }
            }
        }
        Err(e) => match e.as_db_error() {
            Some(db) => {
                out.error = Some(SqlError {
                    sqlstate: db.code().code().to_string(),
                    message: db.message().to_string(),
                    detail: db.detail().map(str::to_string),
                    hint: db.hint().map(str::to_string),
                    position: match db.position() {
                        Some(tokio_postgres::error::ErrorPosition::Original(p)) => Some(*p),
                        _ => None,
                    },
                })
            }
            None => return Err(PgError::from(e)),
        },
    }
    drop(client);
    let _ = driver.await;
    while let Ok(n) = rx.try_recv() {
        out.notices.push(n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_cannot_escape_their_quotes() {
        assert_eq!(
            quote_ident("a\"; drop table x; --"),
            "\"a\"\"; drop table x; --\""
        );
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn server_conf_quotes_paths() {
        let c = server_conf("127.0.0.1", 5432, "/tmp/it's", None);
        assert!(c.contains("unix_socket_directories = '/tmp/it''s'"));
        assert!(c.contains("port = 5432"));
        assert!(!c.contains("archive_mode"));
    }

    #[test]
    fn the_archive_command_quotes_its_paths_for_the_shell_and_the_conf_file() {
        let a = ArchiveConf {
            spool_dir: "/v/it's".into(),
            timeout_seconds: 60,
        };
        let c = server_conf("127.0.0.1", 5432, "/s", Some(&a));
        // Shell quoting of /v/it's/%f is '/v/it'\''s/%f'; the conf file
        // then doubles every single quote and every backslash.
        let expected = r"archive_command = 'test ! -f ''/v/it''\\''''s/%f'' && cp %p";
        assert!(c.contains(expected), "{c}");
        assert!(c.contains("archive_timeout = 60"));
        // Durable before success: the copy, then the directory entry.
        assert!(
            c.contains(r"&& sync ''/v/it''\\''''s/%f.part'' && mv"),
            "{c}"
        );
        assert!(c.contains(r"&& sync ''/v/it''\\''''s'''"), "{c}");
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
