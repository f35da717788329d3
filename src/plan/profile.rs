//! The profile a rewrite follows (rules/distroless.toml or `--profile`):
//! what the skeleton holds, the users and groups, the nonroot user.

use super::*;

/// The built-in distroless profile.
pub const DISTROLESS: &str = include_str!("../../rules/distroless.toml");

/// Files slim makes (passwd, status.d …) live in this pseudo-layer.
pub(super) const MADE: usize = usize::MAX;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub profile: Profile,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub keep: Vec<String>,
    #[serde(default)]
    pub drop: Vec<String>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub dirs: Vec<Dir>,
    #[serde(default)]
    pub env: Vec<String>,
    pub nonroot: Option<NonRoot>,
    /// Packages of the system layer of `rewrite --layers 2` (the base many
    /// images share): with the profile's own files, they go in the first layer.
    #[serde(default)]
    pub system_packages: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub uid: u64,
    pub gid: u64,
    pub home: String,
    pub shell: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    pub gid: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dir {
    pub path: String,
    pub mode: String,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NonRoot {
    pub user: String,
    pub workdir: String,
}

impl Profile {
    /// The uid and gid of the profile's non-root user (`65532:65532`).
    pub fn nonroot_ids(&self) -> Option<(u32, u32)> {
        let n = self.nonroot.as_ref()?;
        let (u, g) = n.user.split_once(':').unwrap_or((&n.user, &n.user));
        Some((u.parse().ok()?, g.parse().ok()?))
    }

    /// `distroless`, or a profile file.
    pub fn load(name_or_path: &str) -> Result<Profile, rules::Error> {
        let (text, origin) = if name_or_path == "distroless" {
            (DISTROLESS.to_string(), "rules/distroless.toml".to_string())
        } else {
            let t = std::fs::read_to_string(name_or_path).map_err(|e| rules::Error {
                origin: name_or_path.to_string(),
                message: format!("{e} (--to takes `distroless` or a profile file)"),
            })?;
            (t, name_or_path.to_string())
        };
        let f: ProfileFile = toml::from_str(&text).map_err(|e| rules::Error {
            origin,
            message: e.to_string().trim().to_string(),
        })?;
        Ok(f.profile)
    }
}
