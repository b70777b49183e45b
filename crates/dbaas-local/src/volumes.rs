use std::path::PathBuf;

use async_trait::async_trait;
use dbaas_drivers::{DriverError, Result, Volume, VolumeDriver};

/// Volumes as directories under one root. The size is recorded, not
/// enforced: a directory has no quota.
pub struct LocalVolumes {
    root: PathBuf,
}

const META: &str = ".dbaas-volume.json";

impl LocalVolumes {
    pub fn new(root: PathBuf) -> Self {
        LocalVolumes { root }
    }

    /// The metadata file of the volume `name`, if the volume is complete.
    async fn read_meta(&self, name: &str) -> Result<Option<serde_json::Value>> {
        let path = self.root.join(name).join(META);
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| DriverError::new(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&format!("reading {}", path.display()), e)),
        }
    }

    fn volume(&self, name: &str, size_gb: u32) -> Volume {
        let path = self.root.join(name);
        Volume {
            name: name.to_string(),
            id: path.display().to_string(),
            size_gb,
            mount_path: path,
        }
    }
}

/// The size a volume's metadata records.
fn size_of(meta: &serde_json::Value) -> u32 {
    meta["size_gb"].as_u64().unwrap_or(0) as u32
}

fn io(what: &str, e: std::io::Error) -> DriverError {
    DriverError::new(format!("{what}: {e}"))
}

#[async_trait]
impl VolumeDriver for LocalVolumes {
    async fn ensure(&self, name: &str, size_gb: u32, operation: &str) -> Result<Volume> {
        if let Some(v) = self.find(name).await? {
            return Ok(v);
        }
        let v = self.volume(name, size_gb);
        // The metadata file is written last: a directory without it is a
        // half-made volume, completed by the next ensure.
        tokio::fs::create_dir_all(&v.mount_path)
            .await
            .map_err(|e| {
                io(
                    &format!("creating volume directory {}", v.mount_path.display()),
                    e,
                )
            })?;
        let meta = serde_json::json!({ "name": name, "size_gb": size_gb, "operation": operation })
            .to_string();
        tokio::fs::write(v.mount_path.join(META), meta)
            .await
            .map_err(|e| io("writing volume metadata", e))?;
        Ok(v)
    }

    async fn find(&self, name: &str) -> Result<Option<Volume>> {
        Ok(self
            .read_meta(name)
            .await?
            .map(|meta| self.volume(name, size_of(&meta))))
    }

    async fn extend(&self, name: &str, size_gb: u32) -> Result<Volume> {
        let mut meta = self
            .read_meta(name)
            .await?
            .ok_or_else(|| DriverError::new(format!("no volume named {name} to extend")))?;
        if size_of(&meta) >= size_gb {
            return Ok(self.volume(name, size_of(&meta)));
        }
        // Written to a temporary file and renamed, so a crash leaves the
        // old size or the new one, never a torn file.
        meta["size_gb"] = size_gb.into();
        let dir = self.root.join(name);
        let tmp = dir.join(format!("{META}.tmp"));
        tokio::fs::write(&tmp, meta.to_string())
            .await
            .map_err(|e| io("writing volume metadata", e))?;
        tokio::fs::rename(&tmp, dir.join(META))
            .await
            .map_err(|e| io("writing volume metadata", e))?;
        Ok(self.volume(name, size_gb))
    }

    async fn delete(&self, name: &str) -> Result<()> {
        let path = self.root.join(name);
        match tokio::fs::remove_dir_all(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(
                &format!("deleting volume directory {}", path.display()),
                e,
            )),
        }
    }

    async fn list(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut rd = match tokio::fs::read_dir(&self.root).await {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io("listing volumes", e)),
        };
        while let Some(entry) = rd
            .next_entry()
            .await
            .map_err(|e| io("listing volumes", e))?
        {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn volumes_are_idempotent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let vols = LocalVolumes::new(dir.path().join("volumes"));
        let a = vols.ensure("v1", 5, "op-1").await.unwrap();
        assert!(a.mount_path.is_dir());
        assert_eq!(vols.ensure("v1", 5, "op-1").await.unwrap(), a);
        assert_eq!(vols.find("v1").await.unwrap().unwrap().size_gb, 5);
        assert_eq!(vols.list().await.unwrap(), vec!["v1".to_string()]);
        assert_eq!(vols.extend("v1", 8).await.unwrap().size_gb, 8);
        assert_eq!(vols.find("v1").await.unwrap().unwrap().size_gb, 8);
        // Never smaller: a smaller size is "already large enough".
        assert_eq!(vols.extend("v1", 6).await.unwrap().size_gb, 8);
        assert!(vols.extend("v2", 6).await.is_err());
        vols.delete("v1").await.unwrap();
        vols.delete("v1").await.unwrap();
        assert!(!a.mount_path.exists());
        assert!(vols.find("v1").await.unwrap().is_none());
    }
}
