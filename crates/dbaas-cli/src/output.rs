//! Tables for people, JSON for scripts.

use comfy_table::{presets, ContentArrangement, Table};
use dbaas_model::*;
use serde::Serialize;

use crate::Format;

pub fn json<T: Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).expect("serialisable"));
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| h.to_string()));
    t
}

fn print_table(t: Table) {
    for line in t.to_string().lines() {
        println!("{}", line.trim_end().trim_start_matches(' '));
    }
}

fn kv(rows: &[(&str, String)]) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{k:width$}  {v}");
    }
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn state<T: Serialize>(s: &T) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn endpoint(e: &Option<Endpoint>) -> String {
    e.as_ref()
        .map(|e| format!("{}:{}", e.host, e.port))
        .unwrap_or_else(|| "-".into())
}

pub fn databases(dbs: &[Database], f: Format) {
    if f == Format::Json {
        return json(&DatabaseList {
            databases: dbs.to_vec(),
        });
    }
    let mut t = table(&[
        "NAME", "STATE", "STATUS", "ENGINE", "VERSION", "SIZE", "ENDPOINT",
    ]);
    for d in dbs {
        t.add_row(vec![
            d.name.clone(),
            state(&d.state),
            state(&d.operating_status),
            d.engine.clone(),
            d.version.clone(),
            format!("{} GiB", d.size_gb),
            endpoint(&d.endpoint),
        ]);
    }
    print_table(t);
}

pub fn database(d: &Database, f: Format) {
    if f == Format::Json {
        return json(d);
    }
    let mut rows = vec![
        ("Name", d.name.clone()),
        ("ID", d.id.clone()),
        ("State", state(&d.state)),
        ("Status", state(&d.operating_status)),
        ("Engine", format!("{} {}", d.engine, d.version)),
        ("Size", format!("{} GiB", d.size_gb)),
        ("Endpoint", endpoint(&d.endpoint)),
        ("Created", time(&d.created_at)),
        ("Updated", time(&d.updated_at)),
    ];
    if let Some(p) = &d.host_pair {
        rows.push(("Host pair", p.clone()));
    }
    if let Some(p) = &d.backup_policy {
        let mut parts = vec![];
        if let Some(s) = &p.schedule {
            parts.push(format!("schedule \"{s}\" (UTC)"));
        }
        if let Some(n) = p.keep_last {
            parts.push(format!("keep last {n}"));
        }
        if let Some(n) = p.keep_days {
            parts.push(format!("keep {n} days"));
        }
        rows.push(("Backups", parts.join(", ")));
    }
    if let Some(w) = &d.wal_archive {
        let last = w
            .last_archived
            .as_ref()
            .map(|l| format!(", last {l}"))
            .unwrap_or_default();
        let error = w
            .last_error
            .as_ref()
            .map(|e| format!(", ERROR: {e}"))
            .unwrap_or_default();
        rows.push((
            "WAL archive",
            format!("{} pending{last}{error}", w.pending_files),
        ));
    }
    if let Some(e) = &d.error {
        rows.push(("Error", e.clone()));
    }
    kv(&rows);
}

pub fn connection(c: &Connection, f: Format) {
    if f == Format::Json {
        return json(c);
    }
    kv(&[
        ("Host", c.host.clone()),
        ("Port", c.port.to_string()),
        ("Database", c.database.clone()),
        ("User", c.user.clone()),
        ("Password", c.password.clone()),
        ("URI", c.uri.clone()),
    ]);
}

pub fn operations(ops: &[Operation], f: Format) {
    if f == Format::Json {
        return json(&OperationList {
            operations: ops.to_vec(),
        });
    }
    let mut t = table(&["ID", "KIND", "TARGET", "STATE", "CREATED"]);
    for o in ops {
        t.add_row(vec![
            o.id.clone(),
            state(&o.kind),
            o.target.clone(),
            state(&o.state),
            time(&o.created_at),
        ]);
    }
    print_table(t);
}

pub fn operation(o: &Operation, f: Format) {
    if f == Format::Json {
        return json(o);
    }
    let mut rows = vec![
        ("ID", o.id.clone()),
        ("Kind", state(&o.kind)),
        ("Target", o.target.clone()),
        ("State", state(&o.state)),
        ("Created", time(&o.created_at)),
        ("Updated", time(&o.updated_at)),
    ];
    if let Some(e) = &o.error {
        rows.push(("Error", e.clone()));
    }
    kv(&rows);
    println!();
    let mut t = table(&["STEP", "STATE", "STARTED", "TOOK"]);
    for s in &o.steps {
        let took = match (s.started_at, s.finished_at) {
            (Some(a), Some(b)) => format!("{:.2}s", (b - a).num_milliseconds() as f64 / 1000.0),
            _ => "-".into(),
        };
        t.add_row(vec![
            s.name.clone(),
            state(&s.state),
            s.started_at
                .as_ref()
                .map(time)
                .unwrap_or_else(|| "-".into()),
            took,
        ]);
    }
    print_table(t);
}

pub fn sql_job(j: &SqlJob, f: Format) {
    if f == Format::Json {
        return json(j);
    }
    kv(&[
        ("Job", j.id.clone()),
        ("Target", format!("{} (database {})", j.target, j.database)),
        ("State", state(&j.state)),
    ]);
    let Some(out) = &j.output else {
        if let Some(e) = &j.error {
            println!("Error     {e}");
        }
        return;
    };
    for n in &out.notices {
        println!("{}:  {}", n.severity, n.message);
    }
    for s in &out.statements {
        println!();
        if s.columns.is_empty() {
            println!("({} rows affected)", s.rows_affected);
            continue;
        }
        let mut t = table(&s.columns.iter().map(String::as_str).collect::<Vec<_>>());
        for r in &s.rows {
            t.add_row(
                r.iter()
                    .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
                    .collect::<Vec<_>>(),
            );
        }
        print_table(t);
        println!("({} rows)", s.rows_affected);
    }
    if out.truncated {
        println!("(output truncated at the agent's size limit)");
    }
    if let Some(e) = &out.error {
        println!();
        println!("ERROR {}: {}", e.sqlstate, e.message);
        if let Some(d) = &e.detail {
            println!("DETAIL: {d}");
        }
        if let Some(h) = &e.hint {
            println!("HINT: {h}");
        }
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub fn backups(list: &[Backup], f: Format) {
    if f == Format::Json {
        return json(&BackupList {
            backups: list.to_vec(),
        });
    }
    let mut t = table(&["ID", "DATABASE", "FINISHED", "STOP LSN", "SIZE", "STORED"]);
    for b in list {
        t.add_row(vec![
            b.id.clone(),
            b.database.clone(),
            time(&b.finished_at),
            b.stop_lsn.clone(),
            bytes(b.raw_bytes),
            bytes(b.stored_bytes),
        ]);
    }
    print_table(t);
}

pub fn backup(b: &Backup, f: Format) {
    if f == Format::Json {
        return json(b);
    }
    kv(&[
        ("ID", b.id.clone()),
        ("Database", format!("{} ({})", b.database, b.database_id)),
        ("Engine", format!("{} {}", b.engine, b.version)),
        ("System ID", b.system_identifier.clone()),
        ("Timeline", b.timeline.to_string()),
        ("WAL", format!("{} .. {}", b.start_lsn, b.stop_lsn)),
        ("Started", time(&b.started_at)),
        ("Finished", time(&b.finished_at)),
        ("Size", bytes(b.raw_bytes)),
        (
            "Stored",
            format!(
                "{} in {} segments ({})",
                bytes(b.stored_bytes),
                b.segments,
                b.compression
            ),
        ),
    ]);
    if let Some(v) = &b.verification {
        let verdict = if v.ok { "OK" } else { "FAILED" };
        println!(
            "Verified   {verdict} at {}: {}",
            time(&v.verified_at),
            v.detail
        );
    }
}

pub fn host_pairs(pairs: &[HostPair], f: Format) {
    if f == Format::Json {
        return json(&HostPairList {
            pairs: pairs.to_vec(),
        });
    }
    let mut t = table(&[
        "PAIR",
        "ZONE",
        "HOSTS",
        "DATABASES",
        "VCPUS",
        "MEMORY MIB",
        "VOLUMES",
    ]);
    let used = |u: u64, c: u64| format!("{u}/{c}");
    for p in pairs {
        t.add_row(vec![
            p.id.clone(),
            p.zone.clone(),
            p.nodes.join(", "),
            used(p.used.databases, p.capacity.databases),
            used(p.used.vcpus, p.capacity.vcpus),
            used(p.used.memory_mib, p.capacity.memory_mib),
            used(p.used.volumes, p.capacity.volumes),
        ]);
    }
    print_table(t);
}

pub fn doctor(r: &DoctorReport, f: Format) {
    if f == Format::Json {
        return json(r);
    }
    if r.orphans.is_empty() && r.broken.is_empty() {
        println!("No orphaned resources; every database has its volume and address.");
        return;
    }
    let mut t = table(&["KIND", "NAME", "PROBLEM"]);
    for o in &r.orphans {
        let fixed = r.removed.contains(o);
        t.add_row(vec![
            o.kind.clone(),
            o.name.clone(),
            if fixed {
                "no database owns it: removed".to_string()
            } else {
                "no database owns it".to_string()
            },
        ]);
    }
    for b in &r.broken {
        t.add_row(vec![
            "database".to_string(),
            b.database.clone(),
            format!(
                "its {} is gone: restore it from a backup, or delete it",
                b.missing.join(" and ")
            ),
        ]);
    }
    print_table(t);
}
