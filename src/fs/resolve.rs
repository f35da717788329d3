//! Path resolution inside the image root, as the kernel does it under a
//! chroot: every symlink hop is looked up in the merged tree (never on the
//! host), `..` at the root stays at the root, and 40 hops is a loop (ELOOP).

use super::{Kind, Tree};

/// The kernel's limit on symlinks followed in one lookup (MAXSYMLINKS).
const MAX_HOPS: usize = 40;

/// The outcome of a successful resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The final path (normalised, no leading `/`; "" is the root).
    pub path: String,
    /// Every symlink followed on the way, in order (normalised paths).
    pub hops: Vec<String>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("/{path}: no such file or directory in the image")]
    NotFound { path: String },
    #[error("/{path}: not a directory")]
    NotDir { path: String },
    #[error("/{path}: too many levels of symbolic links (symlink loop)")]
    Loop { path: String },
}

impl Tree {
    /// Resolves `path` (absolute, or relative to the root) inside the image.
    /// With `follow_last` false, a symlink in the last component is returned
    /// as itself (like `lstat`).
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<Resolved, ResolveError> {
        let mut todo: Vec<String> = path
            .split('/')
            .rev()
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = Vec::new();
        while let Some(comp) = todo.pop() {
            match comp.as_str() {
                "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            cur.push(comp);
            let here = cur.join("/");
            let node = match self.nodes.get(&here) {
                Some(n) => n,
                None => return Err(ResolveError::NotFound { path: here }),
            };
            let last = todo.is_empty();
            match &node.kind {
                Kind::Symlink(target) if !last || follow_last => {
                    hops.push(here.clone());
                    if hops.len() > MAX_HOPS {
                        return Err(ResolveError::Loop {
                            path: path.trim_start_matches('/').to_string(),
                        });
                    }
                    cur.pop();
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    todo.extend(
                        target
                            .split('/')
                            .rev()
                            .filter(|c| !c.is_empty())
                            .map(String::from),
                    );
                }
                Kind::Dir => {}
                _ if !last => return Err(ResolveError::NotDir { path: here }),
                _ => {}
            }
        }
        Ok(Resolved {
            path: cur.join("/"),
            hops,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::fs::{DataRef, Kind, Meta, Node, Tree};

    fn tree(entries: &[(&str, Option<&str>)]) -> Tree {
        let mut t = Tree::new();
        for (i, (p, link)) in entries.iter().enumerate() {
            let kind = match link {
                Some("/") => Kind::Dir,
                Some(target) => Kind::Symlink(target.to_string()),
                None => Kind::File {
                    data: DataRef {
                        layer: 0,
                        offset: i as u64,
                    },
                    hardlink: None,
                },
            };
            t.insert(
                p,
                Node {
                    kind,
                    meta: Meta::default(),
                    layer: 0,
                },
            );
        }
        t
    }

    #[test]
    fn merged_usr_absolute_symlink_chain_is_followed_inside_the_root() {
        let t = tree(&[
            ("lib64", Some("usr/lib64")),
            ("usr", Some("/")),
            ("usr/lib64", Some("/")),
            (
                "usr/lib64/ld-linux-x86-64.so.2",
                Some("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            ),
            ("lib", Some("usr/lib")),
            ("usr/lib", Some("/")),
            ("usr/lib/x86_64-linux-gnu", Some("/")),
            ("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", None),
        ]);
        let r = t.resolve("/lib64/ld-linux-x86-64.so.2", true).unwrap();
        assert_eq!(r.path, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        assert_eq!(r.hops, ["lib64", "usr/lib64/ld-linux-x86-64.so.2", "lib"]);
    }

    #[test]
    fn dotdot_cannot_escape_the_root() {
        let t = tree(&[
            ("etc", Some("/")),
            ("etc/passwd", None),
            ("x", Some("../../../../etc")),
        ]);
        assert_eq!(t.resolve("/x/passwd", true).unwrap().path, "etc/passwd");
        assert_eq!(
            t.resolve("/../../etc/passwd", true).unwrap().path,
            "etc/passwd"
        );
    }

    #[test]
    fn symlink_loop_is_an_error_not_a_hang() {
        let t = tree(&[("a", Some("b")), ("b", Some("a"))]);
        assert!(matches!(
            t.resolve("/a", true),
            Err(super::ResolveError::Loop { .. })
        ));
        assert_eq!(t.resolve("/a", false).unwrap().path, "a");
    }

    #[test]
    fn missing_and_not_a_directory_are_told_apart() {
        let t = tree(&[("f", None)]);
        assert!(matches!(
            t.resolve("/nope", true),
            Err(super::ResolveError::NotFound { .. })
        ));
        assert!(matches!(
            t.resolve("/f/x", true),
            Err(super::ResolveError::NotDir { .. })
        ));
    }
}
