//! The `dbaas` command line as a platform engineer uses it: tables for
//! people, JSON for scripts, exit codes, one-line errors.

mod common;

use std::process::{Command, Output};

use common::{Agent, BIN};

fn dbaas(agent: &Agent, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DBAAS_ADDR", &agent.address)
        .output()
        .expect("run dbaas")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_creates_lists_runs_sql_and_deletes_with_tables_and_json() {
    let mut agent = Agent::start();

    let created = dbaas(
        &agent,
        &[
            "db",
            "create",
            "shop",
            "--size-gb",
            "2",
            "--wait",
            "-o",
            "json",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let op: serde_json::Value = serde_json::from_slice(&created.stdout).expect("JSON on stdout");
    assert_eq!(op["state"], "succeeded");
    assert_eq!(op["kind"], "create_database");
    // With -o json nothing else is printed: no progress on stderr.
    assert_eq!(stderr(&created), "");

    let list = dbaas(&agent, &["db", "list"]);
    assert!(list.status.success());
    let text = stdout(&list);
    let header = text.lines().next().unwrap();
    for col in [
        "NAME", "STATE", "STATUS", "ENGINE", "VERSION", "SIZE", "ENDPOINT",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let row = text
        .lines()
        .find(|l| l.starts_with("shop"))
        .expect("a row for shop");
    assert!(row.contains("ACTIVE") && row.contains("2 GiB"), "{row}");

    let json = dbaas(&agent, &["db", "list", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["databases"][0]["name"], "shop");
    assert_eq!(v["databases"][0]["size_gb"], 2);

    let conn = dbaas(&agent, &["db", "connection", "shop", "-o", "json"]);
    let c: serde_json::Value = serde_json::from_slice(&conn.stdout).unwrap();
    assert!(c["uri"].as_str().unwrap().starts_with("postgres://shop:"));

    let sql = dbaas(
        &agent,
        &[
            "sql",
            "run",
            "shop",
            "--wait",
            "-c",
            "SELECT 6 * 7 AS answer",
        ],
    );
    assert!(sql.status.success(), "{}", stderr(&sql));
    let out = stdout(&sql);
    assert!(
        out.contains("answer") && out.contains("42") && out.contains("(1 rows)"),
        "{out}"
    );

    let file = agent.data_dir().join("q.sql");
    std::fs::write(&file, "SELECT * FROM nowhere").unwrap();
    let bad = dbaas(
        &agent,
        &["sql", "run", "shop", "--wait", "-f", file.to_str().unwrap()],
    );
    assert!(!bad.status.success());
    assert!(stdout(&bad).contains("ERROR 42P01"), "{}", stdout(&bad));
    let err = stderr(&bad);
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err}");
    assert!(err.contains("42P01"), "{err}");

    let ops = dbaas(&agent, &["op", "list", "-o", "json"]);
    let ops: serde_json::Value = serde_json::from_slice(&ops.stdout).unwrap();
    let first = ops["operations"].as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let show = dbaas(&agent, &["op", "show", &first]);
    let shown = stdout(&show);
    for step in ["reserve_name", "start_engine", "mark_active"] {
        assert!(shown.contains(step), "{shown}");
    }

    let grown = dbaas(
        &agent,
        &[
            "db",
            "resize",
            "shop",
            "--size-gb",
            "3",
            "--wait",
            "-o",
            "json",
        ],
    );
    assert!(grown.status.success(), "{}", stderr(&grown));
    let grown: serde_json::Value = serde_json::from_slice(&grown.stdout).unwrap();
    assert_eq!(
        (&grown["kind"], &grown["state"]),
        (&"resize_database".into(), &"succeeded".into()),
        "{grown}"
    );
    let shown = dbaas(&agent, &["db", "show", "shop", "-o", "json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["size_gb"], 3, "{shown}");
    let shrink = dbaas(&agent, &["db", "resize", "shop", "--size-gb", "2"]);
    assert!(!shrink.status.success());
    assert!(stderr(&shrink).contains("only grow"), "{}", stderr(&shrink));

    let del = dbaas(&agent, &["db", "delete", "shop", "--wait"]);
    assert!(del.status.success(), "{}", stderr(&del));
    assert!(stdout(&del).contains("deleted"));
    agent.assert_no_orphans().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_errors_are_one_line_and_exit_non_zero() {
    let agent = Agent::start();
    for (args, expect) in [
        (vec!["db", "show", "nope"], "no database named"),
        (vec!["db", "create", "Bad_Name"], "lowercase letters"),
        (vec!["db", "create", "x", "--size-gb", "0"], "size_gb"),
        (vec!["op", "show", "not-an-id"], "not an operation id"),
        (
            vec!["sql", "run", "nope", "-c", "SELECT 1"],
            "no database named",
        ),
    ] {
        let o = dbaas(&agent, &args);
        assert!(!o.status.success(), "{args:?} should fail");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("dbaas: ") && err.contains(expect),
            "{args:?}: {err}"
        );
        assert_eq!(stdout(&o), "", "{args:?}");
    }
    // An agent that is not there is named, with what to do.
    let o = Command::new(BIN)
        .args(["db", "list"])
        .env("DBAAS_ADDR", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot reach the dbaas agent at http://127.0.0.1:9"),
        "{}",
        stderr(&o)
    );
}
