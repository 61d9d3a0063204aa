//! Compiled components cached on disk:
//! `<data_dir>/plugins/cache/<plugin>-<wasm sha256>-<engine>.cwasm`, keyed by the plugin's
//! name, the component's SHA-256 and the engine's compatibility hash (compiling takes tens of
//! milliseconds for a Rust component and seconds for an interpreter's; loading an artifact a
//! tenth of a millisecond, or ≈ 12 ms).
//!
//! Stale entries are removed: when a plugin is compiled anew, its entries for other builds
//! (other hashes) and for other engines go. Python and JavaScript builds are not reproducible,
//! so without this every rebuild would leave tens of MB behind.
//!
//! Deserializing an artifact runs machine code, so only artifacts Lockgate wrote are loaded:
//! each carries an HMAC-SHA256 under a key that this data directory keeps (`cache/key`, created
//! on first use, readable by its owner only). Anything else in the directory is recompiled.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use ring::{digest, hmac, rand::SecureRandom};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::PluginError;

const MAC_LEN: usize = 32;

pub struct CompileCache {
    dir: PathBuf,
    key: hmac::Key,
    engine_hash: u64,
}

impl CompileCache {
    pub fn open(dir: &Path, engine: &Engine) -> Result<CompileCache, PluginError> {
        let io = |what: &str, e: std::io::Error| {
            PluginError::Cache(format!("{what} {}: {e}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| io("creating", e))?;
        let key_path = dir.join("key");
        let secret = match std::fs::read(&key_path) {
            Ok(k) if k.len() == 32 => k,
            _ => {
                let mut k = vec![0u8; 32];
                ring::rand::SystemRandom::new()
                    .fill(&mut k)
                    .map_err(|_| PluginError::Cache("no randomness for the cache key".into()))?;
                write_private(&key_path, &k).map_err(|e| io("writing the key in", e))?;
                k
            }
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(CompileCache {
            dir: dir.to_path_buf(),
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            engine_hash: h.finish(),
        })
    }

    /// The component for `wasm` of plugin `plugin`: from the cache when a valid artifact is
    /// there, else compiled (and cached, replacing the plugin's other entries; a failure to
    /// write the cache is only logged).
    pub fn component(
        &self,
        engine: &Engine,
        plugin: &str,
        wasm: &[u8],
    ) -> Result<(Component, bool), String> {
        let (prefix, file) = self.file_name(plugin, wasm);
        let path = self.dir.join(&file);
        if let Ok(bytes) = std::fs::read(&path)
            && let Some(component) = self.load(engine, &bytes)
        {
            return Ok((component, true));
        }
        let component = Component::from_binary(engine, wasm).map_err(|e| super::one_line(&e))?;
        self.evict(&prefix, &file);
        match component.serialize() {
            Ok(mut artifact) => {
                let tag = hmac::sign(&self.key, &artifact);
                artifact.extend_from_slice(tag.as_ref());
                let tmp = path.with_extension("tmp");
                if let Err(e) =
                    std::fs::write(&tmp, &artifact).and_then(|()| std::fs::rename(&tmp, &path))
                {
                    tracing::warn!(path = %path.display(), error = %e, "cannot cache a compiled plugin");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot serialize a compiled plugin"),
        }
        Ok((component, false))
    }

    /// The cached component for `wasm` of plugin `plugin`, if a valid artifact is there
    /// (nothing is compiled).
    pub fn cached(&self, engine: &Engine, plugin: &str, wasm: &[u8]) -> Option<Component> {
        let bytes = std::fs::read(self.dir.join(self.file_name(plugin, wasm).1)).ok()?;
        self.load(engine, &bytes)
    }

    /// `(the plugin's prefix, the artifact's file name)`.
    fn file_name(&self, plugin: &str, wasm: &[u8]) -> (String, String) {
        let sha = digest::digest(&digest::SHA256, wasm);
        let sha: String = sha.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let prefix = format!("{}-", file_safe(plugin));
        let file = format!("{prefix}{sha}-{:016x}.cwasm", self.engine_hash);
        (prefix, file)
    }

    /// Removes the plugin's entries (names starting with `prefix`) other than `keep`, and
    /// entries of the old unnamed layout (`<sha>-<engine>.cwasm`).
    fn evict(&self, prefix: &str, keep: &str) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(stem) = name.strip_suffix(".cwasm") else {
                continue;
            };
            let unnamed = stem.split('-').count() == 2;
            let superseded = stem.starts_with(prefix)
                && stem[prefix.len()..].split('-').count() == 2
                && name != keep;
            if unnamed || superseded {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => tracing::info!(
                        file = name,
                        "removed a stale compiled plugin from the cache"
                    ),
                    Err(e) => {
                        tracing::warn!(file = name, error = %e, "cannot remove a stale compiled plugin")
                    }
                }
            }
        }
    }

    fn load(&self, engine: &Engine, bytes: &[u8]) -> Option<Component> {
        let split = bytes.len().checked_sub(MAC_LEN)?;
        let (artifact, mac) = bytes.split_at(split);
        hmac::verify(&self.key, artifact, mac).ok()?;
        // SAFETY: the artifact carries a MAC under this data directory's own key, so Lockgate
        // serialized it from a component this same engine configuration compiled (the engine
        // hash is in the file name, and wasmtime checks it again).
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, artifact) };
        component.ok()
    }
}

/// A plugin name as part of a file name: letters, digits and `_` kept, anything else `_`
/// (`-` separates the parts of a cache file name).
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
