//! What the agent must remember about commands across restarts.
//!
//! - [`Started`]: `<data-dir>/commands-started.log`, an append-only log of the command ids the
//!   agent has started (`S <id>`, written and fsync'd *before* the process is spawned) and of
//!   those whose final report the server has taken (`D <id>`). A command id found in it is never
//!   run again. The last [`KEEP`] started ids are kept; the file is rewritten (temp file, fsync,
//!   rename) when it holds four times that many lines, when its last line is torn, or when it holds
//!   anything unreadable.
//! - [`Outbox`]: `<data-dir>/commands-outbox.json`, the final reports not yet delivered when
//!   the agent stopped, sent again on the next start (and kept until a clean stop rewrites
//!   the file).

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::wire::FinishedInput;

/// Started command ids remembered.
pub const KEEP: usize = 5000;

/// A command id the agent accepts: 1 to 200 characters, no whitespace or control characters
/// (so that one id is one word on one line of the log).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[derive(Debug)]
pub struct Started {
    path: PathBuf,
    file: File,
    keep: usize,
    /// Started ids, oldest first.
    order: VecDeque<Box<str>>,
    started: HashSet<Box<str>>,
    delivered: HashSet<Box<str>>,
    /// Lines in the file.
    lines: usize,
}

impl Started {
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::open_keeping(path, KEEP)
    }

    pub fn open_keeping(path: &Path, keep: usize) -> io::Result<Self> {
        let keep = keep.max(1);
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut order = VecDeque::new();
        let mut started = HashSet::new();
        let mut delivered = HashSet::new();
        let mut lines = 0;
        // A last line without its newline was torn by a crash: its `S` was never fsync'd, so
        // that command was never spawned.
        let mut rewrite = !text.is_empty() && !text.ends_with('\n');
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        for line in complete.lines() {
            lines += 1;
            match line.split_once(' ') {
                Some(("S", id)) if valid_id(id) => {
                    if started.insert(Box::from(id)) {
                        order.push_back(Box::from(id));
                    }
                }
                Some(("D", id)) if valid_id(id) => {
                    delivered.insert(Box::from(id));
                }
                _ => rewrite = true,
            }
        }
        delivered.retain(|id| started.contains(id));
        let mut store = Self {
            path: path.to_path_buf(),
            file: open_append(path)?,
            keep,
            order,
            started,
            delivered,
            lines,
        };
        store.trim();
        if rewrite || store.lines > 4 * keep {
            store.compact()?;
        }
        Ok(store)
    }

    /// Whether `id` was started (within the last [`KEEP`] ids).
    pub fn contains(&self, id: &str) -> bool {
        self.started.contains(id)
    }

    /// Records `id` as started, durably (fsync) — call before spawning it.
    pub fn record_started(&mut self, id: &str) -> io::Result<()> {
        if self.started.contains(id) {
            return Ok(());
        }
        self.append(&format!("S {id}\n"))?;
        self.started.insert(Box::from(id));
        self.order.push_back(Box::from(id));
        self.trim();
        if self.lines > 4 * self.keep {
            self.compact()?;
        }
        Ok(())
    }

    /// Records that the server took the final report of `id`.
    pub fn record_delivered(&mut self, id: &str) -> io::Result<()> {
        if !self.started.contains(id) || self.delivered.contains(id) {
            return Ok(());
        }
        self.append(&format!("D {id}\n"))?;
        self.delivered.insert(Box::from(id));
        Ok(())
    }

    /// Started ids whose final report was not delivered, oldest first.
    pub fn undelivered(&self) -> Vec<String> {
        self.order
            .iter()
            .filter(|id| !self.delivered.contains(*id))
            .map(|id| id.to_string())
            .collect()
    }

    fn append(&mut self, line: &str) -> io::Result<()> {
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()?;
        self.lines += 1;
        Ok(())
    }

    fn trim(&mut self) {
        while self.order.len() > self.keep {
            if let Some(old) = self.order.pop_front() {
                self.started.remove(&old);
                self.delivered.remove(&old);
            }
        }
    }

    /// Rewrites the file with the ids kept.
    fn compact(&mut self) -> io::Result<()> {
        let mut text = String::new();
        let mut lines = 0;
        for id in &self.order {
            text.push_str("S ");
            text.push_str(id);
            text.push('\n');
            lines += 1;
            if self.delivered.contains(id) {
                text.push_str("D ");
                text.push_str(id);
                text.push('\n');
                lines += 1;
            }
        }
        write_atomically(&self.path, text.as_bytes())?;
        self.file = open_append(&self.path)?;
        self.lines = lines;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Temp file, fsync, rename, fsync of the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Best effort: not every platform can open a directory.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Final reports not yet delivered, kept across a restart.
#[derive(Debug)]
pub struct Outbox;

impl Outbox {
    /// Loads the saved reports. The file stays until the next clean stop rewrites it, so a
    /// crash before they are delivered does not lose them (the server takes a repeated final
    /// report as a no-op). A file that cannot be parsed is moved aside.
    pub fn load(path: &Path) -> Vec<FinishedInput> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, file = %path.display(), "cannot read saved command reports");
                return Vec::new();
            }
        };
        match serde_json::from_str::<Vec<FinishedInput>>(&text) {
            Ok(reports) => reports,
            Err(e) => {
                let aside = path.with_extension("json.corrupt");
                let _ = std::fs::rename(path, &aside);
                tracing::warn!(error = %e, file = %path.display(), "cannot parse saved command reports; moved aside");
                Vec::new()
            }
        }
    }

    pub fn save(path: &Path, reports: &[FinishedInput]) -> io::Result<()> {
        if reports.is_empty() {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let bytes = serde_json::to_vec(reports).map_err(io::Error::other)?;
        write_atomically(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::exec::Status;

    #[test]
    fn survives_reopen_and_refuses_a_second_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("commands-started.log");
        {
            let mut s = Started::open(&path).unwrap();
            assert!(!s.contains("c-1"));
            s.record_started("c-1").unwrap();
            s.record_started("c-2").unwrap();
            s.record_delivered("c-1").unwrap();
            assert!(s.contains("c-1"));
        }
        let s = Started::open(&path).unwrap();
        assert!(s.contains("c-1") && s.contains("c-2"));
        assert!(!s.contains("c-3"));
        assert_eq!(s.undelivered(), vec!["c-2".to_string()]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "S c-1\nS c-2\nD c-1\n"
        );
    }

    #[test]
    fn keeps_the_last_ids_and_compacts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut s = Started::open_keeping(&path, 3).unwrap();
        for i in 0..10 {
            s.record_started(&format!("id{i}")).unwrap();
            s.record_delivered(&format!("id{i}")).unwrap();
        }
        assert!(!s.contains("id6"));
        assert!(s.contains("id7") && s.contains("id9"));
        // Compaction bounds the file.
        assert!(std::fs::read_to_string(&path).unwrap().lines().count() <= 12);
        drop(s);
        let s = Started::open_keeping(&path, 3).unwrap();
        assert!(!s.contains("id6"));
        assert!(s.contains("id7") && s.contains("id8") && s.contains("id9"));
        assert!(s.undelivered().is_empty());
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_garbage_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "S a\nnonsense\nS b\nD a\nS tor").unwrap();
        let mut s = Started::open(&path).unwrap();
        assert!(s.contains("a") && s.contains("b"));
        assert!(!s.contains("tor"));
        s.record_started("c").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "S a\nD a\nS b\nS c\n"
        );
    }

    #[test]
    fn ids_must_be_one_word() {
        assert!(valid_id("42"));
        assert!(valid_id("0b7d4c1e-9a57-3c2d-1e0f-4a01aaaaaaaa"));
        assert!(!valid_id(""));
        assert!(!valid_id("a b"));
        assert!(!valid_id("a\nS b"));
        assert!(!valid_id(&"x".repeat(201)));
    }

    #[test]
    fn outbox_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("commands-outbox.json");
        assert!(Outbox::load(&path).is_empty());
        let report = FinishedInput {
            command_id: "7".into(),
            status: Status::Timeout,
            exit_code: None,
            stdout: "a".into(),
            stderr: String::new(),
            stdout_truncated: true,
            stderr_truncated: false,
            duration_ms: 1000,
        };
        Outbox::save(&path, std::slice::from_ref(&report)).unwrap();
        assert_eq!(Outbox::load(&path), vec![report.clone()]);
        // Kept until rewritten.
        assert_eq!(Outbox::load(&path), vec![report]);
        Outbox::save(&path, &[]).unwrap();
        assert!(!path.exists());
        std::fs::write(&path, "{").unwrap();
        assert!(Outbox::load(&path).is_empty());
        assert!(dir.path().join("commands-outbox.json.corrupt").exists());
    }
}
