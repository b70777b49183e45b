//! The engine's superuser password, kept in Nomad variables the jobs'
//! tasks read through their workload identity (never in a job).

use dbaas_drivers::{EngineSpec, Result};
use dbaas_nomad::Variable;
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::render::{err, job_id};
use crate::runtime::NomadRuntime;

/// The item holding the superuser password in a job's variable.
pub const PASSWORD_ITEM: &str = "superuser_password";

/// The item holding the object store's HTTP header line, in the admin SQL
/// job's variable.
pub const OBJECT_STORE_HEADER_ITEM: &str = "object_store_header";

/// The variable path a job's tasks may read: `nomad/jobs/<job id>`.
pub fn variable_path(job_id: &str) -> String {
    format!("nomad/jobs/{job_id}")
}

fn new_password() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

impl NomadRuntime {
    /// The engine's superuser password (from the engine job's variable),
    /// if one was made.
    pub async fn superuser_password(&self, spec: &EngineSpec) -> Result<Option<String>> {
        let path = variable_path(&job_id(&spec.instance)?);
        Ok(self
            .client()
            .read_variable(&path)
            .await
            .map_err(err)?
            .and_then(|v| v.items.get(PASSWORD_ITEM).cloned()))
    }

    /// Makes sure the variable at `path` holds the `wanted` items (others
    /// kept), with check-and-set: `Some(value)` sets an item, `None` makes
    /// a random password if the item is absent and keeps it otherwise.
    /// Returns the items stored.
    pub(crate) async fn ensure_items(
        &self,
        path: &str,
        wanted: &[(&str, Option<String>)],
    ) -> Result<std::collections::BTreeMap<String, String>> {
        for _ in 0..self.config().cas_attempts.max(1) {
            let current = self.client().read_variable(path).await.map_err(err)?;
            let cas = current.as_ref().map(|v| v.modify_index).unwrap_or(0);
            let mut items = current.map(|v| v.items).unwrap_or_default();
            let mut changed = false;
            for (key, value) in wanted {
                match value {
                    Some(v) if items.get(*key) != Some(v) => {
                        items.insert((*key).to_string(), v.clone());
                        changed = true;
                    }
                    None if !items.contains_key(*key) => {
                        items.insert((*key).to_string(), new_password());
                        changed = true;
                    }
                    _ => {}
                }
            }
            if !changed {
                return Ok(items);
            }
            let variable = Variable {
                path: path.to_string(),
                items: items.clone(),
                ..Variable::default()
            };
            match self.client().put_variable(&variable, Some(cas)).await {
                Ok(_) => {
                    tracing::info!(%path, "wrote the Nomad variable");
                    return Ok(items);
                }
                Err(e) if e.is_conflict() => {
                    tracing::warn!(%path, "the variable changed since it was read; reading it again");
                }
                Err(e) => return Err(err(e)),
            }
        }
        Err(err(format!(
            "the Nomad variable {path} kept being changed by someone else"
        )))
    }

    /// The engine job's variable with a password (made once, never
    /// replaced); returns the password.
    pub(crate) async fn ensure_engine_password(&self, instance: &str) -> Result<String> {
        let items = self
            .ensure_items(&variable_path(instance), &[(PASSWORD_ITEM, None)])
            .await?;
        Ok(items[PASSWORD_ITEM].clone())
    }
}
