//! [`PromptCache`]: the disk-derived parts of the system prompt (the skills index, the memory
//! snapshot of each memory scope), each kept with what its files looked like when read (modified
//! time, length, inode — or absent). Every turn still checks the disk (API §9 rebuilds the prompt
//! per turn, so a skill dropped on disk or a memory written last turn shows up on the next one),
//! but with a few `stat`s instead of reading and parsing, and on the async thread instead of a
//! blocking-pool handoff when there are only a few files to check. What the prompt contains is
//! `prompt.rs`; reading skills and memory is `tools/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::prompt::{CORE_PERSONA, compose};
use crate::discovery::skills::subdirs;
use crate::tools::{memory_dir, memory_snapshot, skills_index};

/// A cached part whose files need more `stat`s than this is checked on the blocking pool.
const INLINE_CHECKS: usize = 16;
/// Memory scopes kept; past this the map starts over (a scope costs one read to come back).
const MAX_SCOPES: usize = 1024;
/// A file modified this recently might change again within one timestamp tick and look the
/// same: such a read is not reused (the "racy" check git makes for its index).
const RACY: Duration = Duration::from_secs(2);
/// The files `memory_snapshot` reads in a memory directory.
const MEMORY_FILES: [&str; 2] = ["MEMORY.md", "USER.md"];

/// The cached skills index and memory snapshots. One per agent.
#[derive(Default)]
pub(super) struct PromptCache {
    skills: Mutex<Option<Arc<Cached>>>,
    memory: Mutex<HashMap<PathBuf, Arc<Cached>>>,
}

/// One path as it was: `None` when it did not exist.
type Stamp = Vec<(PathBuf, Option<FileStamp>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: SystemTime,
    len: u64,
    inode: u64,
}

/// A part of the prompt and the state of the files it was read from.
struct Cached {
    stamp: Stamp,
    text: String,
    /// False when a file was modified too recently to trust its stamp.
    trusted: bool,
}

impl Cached {
    /// Reads a part, taking the stamp first so the text is never older than it.
    fn read(stamp: Stamp, read: impl FnOnce() -> String) -> Arc<Cached> {
        let now = SystemTime::now();
        let trusted = stamp.iter().all(|(_, file)| match file {
            Some(file) => file.modified + RACY < now,
            None => true,
        });
        Arc::new(Cached {
            text: read(),
            stamp,
            trusted,
        })
    }

    /// Whether every file still looks as it did (blocking `stat`s).
    fn is_fresh(&self) -> bool {
        self.trusted
            && self
                .stamp
                .iter()
                .all(|(path, file)| stat(path).as_ref() == file.as_ref())
    }

    /// Whether it can be checked on the async thread and is fresh.
    fn is_fresh_inline(&self) -> bool {
        self.stamp.len() <= INLINE_CHECKS && self.is_fresh()
    }
}

impl PromptCache {
    /// The system prompt of a turn, as [`super::prompt::system_prompt`] builds it, reading the
    /// skills and the memory of `session_key` again only when their files changed.
    pub(super) async fn system_prompt(
        &self,
        home: &Path,
        session_key: Option<&str>,
        client_text: Option<&str>,
    ) -> String {
        let memory_dir = memory_dir(home, session_key);
        let skills = lock(&self.skills).clone();
        let memory = lock(&self.memory).get(&memory_dir).cloned();
        if let (Some(skills), Some(memory)) = (&skills, &memory)
            && skills.is_fresh_inline()
            && memory.is_fresh_inline()
        {
            return compose(&skills.text, &memory.text, client_text);
        }
        let home_dir = home.to_owned();
        let key = session_key.map(str::to_owned);
        let dir = memory_dir.clone();
        let refreshed = tokio::task::spawn_blocking(move || {
            let skills = match skills {
                Some(cached) if cached.is_fresh() => cached,
                _ => Cached::read(skills_stamp(&home_dir), || skills_index(&home_dir)),
            };
            let memory = match memory {
                Some(cached) if cached.is_fresh() => cached,
                _ => Cached::read(memory_stamp(&dir), || {
                    memory_snapshot(&home_dir, key.as_deref())
                }),
            };
            (skills, memory)
        })
        .await;
        let Ok((skills, memory)) = refreshed else {
            return CORE_PERSONA.to_owned();
        };
        *lock(&self.skills) = Some(Arc::clone(&skills));
        {
            let mut scopes = lock(&self.memory);
            if scopes.len() >= MAX_SCOPES && !scopes.contains_key(&memory_dir) {
                scopes.clear();
            }
            scopes.insert(memory_dir, Arc::clone(&memory));
        }
        compose(&skills.text, &memory.text, client_text)
    }
}

/// The cache stays usable after a panic elsewhere: its values are replaced whole.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn stat(path: &Path) -> Option<FileStamp> {
    let metadata = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        // No modified time on this platform: a stamp that never matches, so always re-read.
        modified: metadata.modified().unwrap_or_else(|_| SystemTime::now()),
        len: metadata.len(),
        inode: inode(&metadata),
    })
}

#[cfg(unix)]
fn inode(metadata: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(metadata)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

fn stamped(path: PathBuf) -> (PathBuf, Option<FileStamp>) {
    let stamp = stat(&path);
    (path, stamp)
}

/// The memory directory (files appear and are replaced by rename) and its two files.
fn memory_stamp(dir: &Path) -> Stamp {
    let mut stamp = vec![stamped(dir.to_owned())];
    stamp.extend(MEMORY_FILES.iter().map(|file| stamped(dir.join(file))));
    stamp
}

/// Every directory and SKILL.md the skills scan looks at
/// (`skills/[<category>/]<skill>/SKILL.md`): a skill added or removed changes a directory, an
/// edited one its SKILL.md.
fn skills_stamp(home: &Path) -> Stamp {
    let root = home.join("skills");
    let mut stamp = vec![stamped(root.clone())];
    for entry in subdirs(&root) {
        stamp.push(stamped(entry.clone()));
        let skill_md = stamped(entry.join("SKILL.md"));
        let is_skill = skill_md.1.is_some();
        stamp.push(skill_md);
        if is_skill {
            continue;
        }
        for skill_dir in subdirs(&entry) {
            stamp.push(stamped(skill_dir.clone()));
            stamp.push(stamped(skill_dir.join("SKILL.md")));
        }
    }
    stamp
}

#[cfg(test)]
#[path = "prompt_cache_tests.rs"]
mod tests;
