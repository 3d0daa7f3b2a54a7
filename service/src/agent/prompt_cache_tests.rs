//! Tests of [`PromptCache`]: it builds the same prompt as `system_prompt`, reuses a read while
//! the files look the same, and shows every kind of change on the next turn.

use std::fs::File;
use std::time::{Duration, SystemTime};

use super::*;
use crate::agent::prompt::system_prompt;

/// Sets the modified time of a file or directory an hour back, so the cache trusts it.
fn age(path: &Path) {
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    File::open(path).unwrap().set_modified(hour_ago).unwrap();
}

fn write_skill(home: &Path, rel: &str, name: &str, description: &str) {
    let dir = home.join("skills").join(rel);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("SKILL.md"),
        format!("---\nname: {name}\ndescription: {description}\n---\n"),
    )
    .unwrap();
}

fn age_all(home: &Path) {
    for entry in walk(home) {
        age(&entry);
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_owned()];
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir).unwrap() {
            out.extend(walk(&entry.unwrap().path()));
        }
    }
    out
}

#[tokio::test]
async fn same_prompt_as_reading_the_disk_and_reused_while_unchanged() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    write_skill(home, "deploy", "deploy", "Ship it");
    let memories = home.join("memories");
    std::fs::create_dir_all(&memories).unwrap();
    std::fs::write(memories.join("MEMORY.md"), "The build uses cargo\n").unwrap();
    age_all(home);

    let cache = PromptCache::default();
    let first = cache.system_prompt(home, None, Some("be brief")).await;
    assert_eq!(first, system_prompt(home, None, Some("be brief")));
    assert!(
        first.contains("Ship it") && first.contains("The build uses cargo"),
        "{first}"
    );

    // Same length, same inode, same modified time: the cached read is used.
    let skill_md = home.join("skills/deploy/SKILL.md");
    let modified = std::fs::metadata(&skill_md).unwrap().modified().unwrap();
    std::fs::write(&skill_md, "---\nname: deploy\ndescription: Ship IT\n---\n").unwrap();
    File::open(&skill_md)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let again = cache.system_prompt(home, None, Some("be brief")).await;
    assert_eq!(again, first);
}

#[tokio::test]
async fn every_change_on_disk_shows_up_on_the_next_turn() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    write_skill(home, "ops/deploy", "deploy", "Ship it");
    age_all(home);
    let cache = PromptCache::default();
    let before = cache.system_prompt(home, Some("alice"), None).await;
    assert!(
        before.contains("Ship it") && !before.contains("## Memory"),
        "{before}"
    );

    // An edit in place (new modified time), a skill added to a category, memory written.
    let skill_md = home.join("skills/ops/deploy/SKILL.md");
    std::fs::write(
        &skill_md,
        "---\nname: deploy\ndescription: Ship it twice\n---\n",
    )
    .unwrap();
    write_skill(home, "ops/rollback", "rollback", "Undo a release");
    let alice = memory_dir(home, Some("alice"));
    std::fs::create_dir_all(&alice).unwrap();
    std::fs::write(alice.join("USER.md"), "Prefers Spanish\n").unwrap();

    let after = cache.system_prompt(home, Some("alice"), None).await;
    assert_eq!(after, system_prompt(home, Some("alice"), None));
    assert!(after.contains("Ship it twice"), "{after}");
    assert!(after.contains("Undo a release"), "{after}");
    assert!(after.contains("Prefers Spanish"), "{after}");
    // Memory is scoped: another key does not see alice's.
    let bob = cache.system_prompt(home, Some("bob"), None).await;
    assert!(!bob.contains("Prefers Spanish"), "{bob}");

    // Removing a skill shows too, also once everything is old enough to be trusted.
    age_all(home);
    let primed = cache.system_prompt(home, Some("alice"), None).await;
    assert!(primed.contains("Undo a release"), "{primed}");
    std::fs::remove_dir_all(home.join("skills/ops/rollback")).unwrap();
    let removed = cache.system_prompt(home, Some("alice"), None).await;
    assert!(!removed.contains("Undo a release"), "{removed}");
}
