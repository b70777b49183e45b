//! Validation at the edge. Every rule here is applied before anything is
//! stored or sent anywhere, so a rejected request changes nothing.

use crate::error::ApiError;

/// Longest database name. Cloud resource names (`dbaas-NAME-ID`) and
/// PostgreSQL identifiers (63 bytes) must stay within their limits.
pub const MAX_NAME_LEN: usize = 48;
/// Smallest and largest volume size in GiB.
pub const MIN_SIZE_GB: i64 = 1;
pub const MAX_SIZE_GB: i64 = 16_384;
/// Size given when the request names none.
pub const DEFAULT_SIZE_GB: u32 = 10;
/// Largest SQL text a job accepts.
pub const MAX_SQL_BYTES: usize = 1024 * 1024;

/// Checks a database name: 1 to 48 characters, lowercase ASCII letters,
/// digits and hyphens, starting with a letter, not ending with a hyphen.
/// These names become cloud resource names, Nomad job ids, PostgreSQL
/// identifiers and file names, so the alphabet is the intersection of what
/// all of them accept without quoting.
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    const RULE: &str = "names are 1 to 48 characters: lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (e.g. \"orders-db\")";
    if name.is_empty() {
        return Err(ApiError::invalid(
            "name",
            format!("the name is empty; {RULE}"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(ApiError::invalid(
            "name",
            format!("the name contains {bad:?}; {RULE}"),
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ApiError::invalid(
            "name",
            format!("the name is {} characters long; {RULE}", name.len()),
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(ApiError::invalid(
            "name",
            format!("the name must start with a letter; {RULE}"),
        ));
    }
    if name.ends_with('-') {
        return Err(ApiError::invalid(
            "name",
            format!("the name must not end with a hyphen; {RULE}"),
        ));
    }
    Ok(())
}

/// Checks a volume size and applies the default.
pub fn validate_size_gb(size: Option<i64>) -> Result<u32, ApiError> {
    match size {
        None => Ok(DEFAULT_SIZE_GB),
        Some(s) if (MIN_SIZE_GB..=MAX_SIZE_GB).contains(&s) => Ok(s as u32),
        Some(s) => Err(ApiError::invalid(
            "size_gb",
            format!(
                "size_gb is {s}; give a whole number of GiB from {MIN_SIZE_GB} to {MAX_SIZE_GB}"
            ),
        )),
    }
}

/// Checks the SQL text of a job. The text itself is sent to the engine as
/// is, never spliced into anything.
pub fn validate_sql(sql: &str) -> Result<(), ApiError> {
    if sql.trim().is_empty() {
        return Err(ApiError::invalid(
            "sql",
            "the SQL text is empty; give one or more statements",
        ));
    }
    if sql.len() > MAX_SQL_BYTES {
        return Err(ApiError::invalid(
            "sql",
            format!(
                "the SQL text is {} bytes; the limit is {MAX_SQL_BYTES} bytes: split it into several jobs",
                sql.len()
            ),
        ));
    }
    if sql.contains('\0') {
        return Err(ApiError::invalid(
            "sql",
            "the SQL text contains a NUL byte, which PostgreSQL cannot accept",
        ));
    }
    Ok(())
}

/// Checks the name of a PostgreSQL database inside an engine, as given to a
/// SQL job: 1 to 63 characters, lowercase letters, digits, `_` and `-`,
/// starting with a letter or `_`.
pub fn validate_pg_database(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "database",
            format!("{name:?} is not a database name dbaas accepts: 1 to 63 lowercase letters, digits, '_' or '-', starting with a letter or '_'"),
        ))
    }
}

/// Checks a backup policy.
pub fn validate_backup_policy(p: &crate::BackupPolicy) -> Result<(), ApiError> {
    if let Some(s) = &p.verify_schedule {
        croner::Cron::new(s).with_seconds_optional().parse().map_err(|e| {
            ApiError::invalid(
                "verify_schedule",
                format!("{s:?} is not a cron expression ({e:?}); e.g. \"0 4 * * 0\" for every Sunday at 04:00 UTC"),
            )
        })?;
    }
    if let Some(s) = &p.schedule {
        croner::Cron::new(s).with_seconds_optional().parse().map_err(|e| {
            ApiError::invalid(
                "schedule",
                format!("{s:?} is not a cron expression ({e:?}); e.g. \"0 3 * * *\" for every day at 03:00 UTC"),
            )
        })?;
    }
    if p.keep_last.is_some_and(|n| !(1..=1000).contains(&n)) {
        return Err(ApiError::invalid(
            "keep_last",
            "keep_last must be from 1 to 1000",
        ));
    }
    if p.keep_days.is_some_and(|n| !(1..=3650).contains(&n)) {
        return Err(ApiError::invalid(
            "keep_days",
            "keep_days must be from 1 to 3650",
        ));
    }
    Ok(())
}

/// The next time a cron `schedule` fires after `after`.
pub fn next_scheduled(
    schedule: &str,
    after: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    croner::Cron::new(schedule)
        .with_seconds_optional()
        .parse()
        .ok()?
        .find_next_occurrence(&after, false)
        .ok()
}

/// Checks an operation id (a UUID) from a path before looking it up.
pub fn validate_operation_id(id: &str) -> Result<(), ApiError> {
    // Lowercase hex in groups of 8-4-4-4-12, as the agent writes them.
    let ok = id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "id",
            format!("{id:?} is not an operation id; ids look like 0b5c8f3e-2f1d-4c1a-9d0e-6f1f0c2b7a41 (see `dbaas op list`)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for n in ["a", "orders", "orders-db", "db1", &"a".repeat(48)] {
            assert!(validate_name(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn rejects_names_that_would_need_quoting() {
        for n in [
            "",
            "Orders",
            "1db",
            "-db",
            "db-",
            "my.db",
            "my_db",
            "a'b",
            "a\"b",
            "a;drop table x",
            "../etc",
            "dé",
            &"a".repeat(49),
        ] {
            let e = validate_name(n).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("name"), "{n}");
            assert!(
                e.message.contains("lowercase letters"),
                "{n}: {}",
                e.message
            );
        }
        // Multi-byte names are refused for their characters, not for a
        // length counted in bytes.
        let e = validate_name(&"é".repeat(25)).unwrap_err();
        assert!(e.message.contains("contains 'é'"), "{}", e.message);
    }

    #[test]
    fn sizes_default_and_bounds() {
        assert_eq!(validate_size_gb(None).unwrap(), DEFAULT_SIZE_GB);
        assert_eq!(validate_size_gb(Some(1)).unwrap(), 1);
        assert_eq!(
            validate_size_gb(Some(MAX_SIZE_GB)).unwrap(),
            MAX_SIZE_GB as u32
        );
        for s in [0, -1, MAX_SIZE_GB + 1, i64::MAX] {
            assert!(validate_size_gb(Some(s)).is_err(), "{s}");
        }
    }

    #[test]
    fn operation_ids_are_uuids() {
        assert!(validate_operation_id("0b5c8f3e-2f1d-4c1a-9d0e-6f1f0c2b7a41").is_ok());
        assert!(validate_operation_id("../../etc/passwd").is_err());
        assert!(validate_operation_id("0B5C8F3E-2F1D-4C1A-9D0E-6F1F0C2B7A41").is_err());
        assert!(validate_operation_id(&"-".repeat(36)).is_err());
        assert!(validate_operation_id("0b5c8f3e2f1d4c1a9d0e6f1f0c2b7a410000").is_err());
    }
}
