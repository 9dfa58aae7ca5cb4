//! Header values read from a file, re-read when the file changes: a mounted Kubernetes Secret,
//! or a projected service-account token that the kubelet rotates.
//!
//! The kubelet replaces a mounted file by swapping a symlink to a new directory, so the path's
//! target changes inode; an editor or `cp` over the file changes its modification time. A
//! [`SecretFile`] remembers both (and the length) and re-reads the file when any of them moves;
//! the engine asks once per window, so a rotated token is sent from the next window on.
//!
//! Nothing here ever shows a value: errors name the path and the reason only, and `Debug`
//! prints the path.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderValue;

/// The most a secret file may hold (a projected token is about 1 KiB).
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Why a secret file gave no value. Names the path, never the contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The file could not be opened or read.
    #[error("cannot read the secret file {path:?}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is empty, too long, or holds a character a header value cannot carry.
    #[error("the secret file {path:?} {reason} (its contents are not shown)")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, said without the contents.
        reason: &'static str,
    },
}

/// What identifies one version of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    device: u64,
    len: u64,
    modified: Option<SystemTime>,
}

#[derive(Debug)]
struct State {
    value: HeaderValue,
    stamp: Stamp,
    /// The last refresh failed (logged once, until a refresh succeeds again).
    failing: bool,
}

/// A header value `prefix` + the file's contents (trailing white space trimmed), kept current by
/// [`SecretFile::refresh`].
pub struct SecretFile {
    path: PathBuf,
    prefix: String,
    state: RwLock<State>,
}

impl fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SecretFile {
    /// Reads `path` once. Fails when it cannot be read, is empty or longer than
    /// [`MAX_SECRET_BYTES`], or the value is not a valid header value.
    pub fn open(
        path: impl Into<PathBuf>,
        prefix: impl Into<String>,
    ) -> Result<SecretFile, SecretError> {
        let path = path.into();
        let prefix = prefix.into();
        let (value, stamp) = read(&path, &prefix)?;
        Ok(SecretFile {
            path,
            prefix,
            state: RwLock::new(State {
                value,
                stamp,
                failing: false,
            }),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current value (marked sensitive, so `Debug` of a header map hides it).
    pub fn value(&self) -> HeaderValue {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state.value.clone()
    }

    /// Re-reads the file if its inode, device, length or modification time changed. Returns
    /// `Ok(true)` when the value was replaced. On an error the last good value stays in use;
    /// the error is returned once per run of failures (`Ok(false)` while it goes on).
    pub fn refresh(&self) -> Result<bool, SecretError> {
        let now = match stamp(&self.path) {
            Ok(s) => s,
            Err(e) => return self.failed(e),
        };
        {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            if state.stamp == now && !state.failing {
                return Ok(false);
            }
        }
        match read(&self.path, &self.prefix) {
            Ok((value, stamp)) => {
                let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
                let changed = state.value != value;
                state.value = value;
                state.stamp = stamp;
                state.failing = false;
                Ok(changed)
            }
            Err(e) => self.failed(e),
        }
    }

    fn failed(&self, e: SecretError) -> Result<bool, SecretError> {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if std::mem::replace(&mut state.failing, true) {
            Ok(false)
        } else {
            Err(e)
        }
    }
}

fn read_error(path: &Path, e: &std::io::Error) -> SecretError {
    SecretError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn stamp(path: &Path) -> Result<Stamp, SecretError> {
    let m = std::fs::metadata(path).map_err(|e| read_error(path, &e))?;
    Ok(Stamp {
        inode: m.ino(),
        device: m.dev(),
        len: m.len(),
        modified: m.modified().ok(),
    })
}

/// The value and the stamp of the version read (taken from the open file, so they match).
fn read(path: &Path, prefix: &str) -> Result<(HeaderValue, Stamp), SecretError> {
    let invalid = |reason| SecretError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| read_error(path, &e))?;
    let m = file.metadata().map_err(|e| read_error(path, &e))?;
    if !m.is_file() {
        return Err(invalid("is not a regular file"));
    }
    let mut text = Vec::new();
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| read_error(path, &e))?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(invalid("is longer than 64 KiB"));
    }
    while text.last().is_some_and(u8::is_ascii_whitespace) {
        text.pop();
    }
    if text.is_empty() {
        return Err(invalid("is empty"));
    }
    let mut bytes = Vec::with_capacity(prefix.len() + text.len());
    bytes.extend_from_slice(prefix.as_bytes());
    bytes.extend_from_slice(&text);
    let mut value = HeaderValue::from_maybe_shared(Bytes::from(bytes))
        .map_err(|_| invalid("holds a character a header value cannot carry"))?;
    value.set_sensitive(true);
    let stamp = Stamp {
        inode: m.ino(),
        device: m.dev(),
        len: m.len(),
        modified: m.modified().ok(),
    };
    Ok((value, stamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_is_picked_up_and_errors_never_show_the_value() {
        let dir = std::env::temp_dir().join(format!("loadgen-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("token");
        std::fs::write(&path, "first-s3cr3t\n").expect("write");
        let s = SecretFile::open(&path, "Bearer ").expect("opens");
        assert_eq!(s.value(), "Bearer first-s3cr3t");
        assert_eq!(s.refresh(), Ok(false));
        // Replaced the way the kubelet does it: a new file renamed over the old one.
        let next = dir.join("token.new");
        std::fs::write(&next, "second-s3cr3t").expect("write");
        std::fs::rename(&next, &path).expect("rename");
        assert_eq!(s.refresh(), Ok(true));
        assert_eq!(s.value(), "Bearer second-s3cr3t");
        assert!(!format!("{s:?}").contains("s3cr3t"));
        // Gone: one error naming the path, the last value kept; then quiet until it is back.
        std::fs::remove_file(&path).expect("remove");
        let e = s.refresh().expect_err("missing");
        assert!(e.to_string().contains("token") && !e.to_string().contains("s3cr3t"));
        assert_eq!(s.refresh(), Ok(false));
        assert_eq!(s.value(), "Bearer second-s3cr3t");
        std::fs::write(&path, "bad\u{1}s3cr3t").expect("write");
        let e = s.refresh().err().or_else(|| s.refresh().err());
        assert!(e.is_none_or(|e| !e.to_string().contains("s3cr3t")));
        std::fs::write(&path, "third-s3cr3t").expect("write");
        assert_eq!(s.refresh(), Ok(true));
        assert_eq!(s.value(), "Bearer third-s3cr3t");
        let missing = SecretFile::open(dir.join("nope"), "").expect_err("missing");
        assert!(missing.to_string().contains("nope"));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
