//! Skill discovery: `$HERMES_HOME/skills/[<category>/]<skill>/SKILL.md`, rescanned on every call so
//! a skill dropped on disk shows up without a restart. Front matter (`---` YAML `---`) gives `name`
//! and `description`; the folder above the skill's folder is its category.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One skill found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillInfo {
    /// Front-matter `name`, else the folder name.
    pub name: String,
    /// Front-matter `description`, else empty.
    pub description: String,
    /// The category folder, or `None` at the skills root.
    pub category: Option<String>,
    /// Where the SKILL.md lives.
    pub path: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
struct FrontMatter {
    name: Option<String>,
    description: Option<String>,
}

/// Scans `skills_dir`; a missing directory means no skills, unreadable entries are skipped.
pub fn scan(skills_dir: &Path) -> Vec<SkillInfo> {
    let mut found = Vec::new();
    for entry in subdirs(skills_dir) {
        let skill_md = entry.join("SKILL.md");
        if skill_md.is_file() {
            if let Some(skill) = read_skill(&skill_md, &entry, None) {
                found.push(skill);
            }
            continue;
        }
        let category = folder_name(&entry);
        for skill_dir in subdirs(&entry) {
            let skill_md = skill_dir.join("SKILL.md");
            if skill_md.is_file()
                && let Some(skill) = read_skill(&skill_md, &skill_dir, category.clone())
            {
                found.push(skill);
            }
        }
    }
    found.sort_by(|a, b| (&a.category, &a.name).cmp(&(&b.category, &b.name)));
    found
}

/// The visible (not dot-named) subdirectories of `dir`, sorted; none if it cannot be read.
/// Shared with the system-prompt cache so it watches exactly the folders the index reads.
pub(crate) fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir() && !folder_name(path).is_some_and(|n| n.starts_with('.')))
        .collect();
    dirs.sort();
    dirs
}

fn folder_name(path: &Path) -> Option<String> {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
}

fn read_skill(skill_md: &Path, dir: &Path, category: Option<String>) -> Option<SkillInfo> {
    let text = std::fs::read_to_string(skill_md).ok()?;
    let front = front_matter(&text);
    let name = front
        .name
        .filter(|n| !n.trim().is_empty())
        .or_else(|| folder_name(dir))?;
    Some(SkillInfo {
        name,
        description: front.description.unwrap_or_default().trim().to_owned(),
        category,
        path: skill_md.to_path_buf(),
    })
}

fn front_matter(text: &str) -> FrontMatter {
    let text = text.trim_start_matches('\u{feff}');
    let Some(rest) = text.strip_prefix("---") else {
        return FrontMatter::default();
    };
    let Some(end) = rest.find("\n---") else {
        return FrontMatter::default();
    };
    serde_yaml_ng::from_str(&rest[..end]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn finds_root_and_categorised_skills_with_front_matter() {
        let home = tempfile::tempdir().unwrap();
        let skills = home.path().join("skills");
        write(
            &skills.join("deploy/SKILL.md"),
            "---\nname: deploy-app\ndescription: Ships the app\n---\n# Deploy\n",
        );
        write(
            &skills.join("writing/copy/SKILL.md"),
            "---\ndescription: Landing copy\n---\nbody",
        );
        write(&skills.join("writing/notes.txt"), "not a skill");
        write(&skills.join("broken/SKILL.md"), "no front matter at all");

        let found = scan(&skills);
        let summary: Vec<_> = found
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.description.as_str(),
                    s.category.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("broken", "", None),
                ("deploy-app", "Ships the app", None),
                ("copy", "Landing copy", Some("writing")),
            ]
        );
    }

    #[test]
    fn missing_directory_means_no_skills() {
        assert!(scan(Path::new("/nonexistent/caduceus/skills")).is_empty());
    }
}
