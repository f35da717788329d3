//! A layer staged entry by entry as its tar streams, then applied to the
//! merged tree (whiteouts, opaque directories, hardlinks).

use super::*;

/// Where a hardlink to a lower layer's file points until the layer is applied.
pub(super) const PENDING: DataRef = DataRef {
    layer: usize::MAX,
    offset: u64::MAX,
};

/// One layer's entries as the layer itself leaves them, built entry by entry
/// while its tar is read (no list of entries is kept): a later entry replaces
/// an earlier one, a non-directory replaces what the layer put below it;
/// whiteouts and opaque directories wait to be applied to the layers below.
#[derive(Debug, Default)]
pub struct Staged {
    pub(super) layer: usize,
    pub(super) nodes: BTreeMap<String, Node>,
    pub(super) whiteouts: Vec<String>,
    pub(super) opaques: Vec<String>,
    /// Hardlinks whose target this layer does not hold: (path, target), to
    /// resolve against the lower layers.
    pub(super) lower_links: Vec<(String, String)>,
    /// When to repack `nodes` next (see [`compact`]).
    pub(super) repack_at: usize,
}

/// Repacks a B-tree into full nodes. Entries arrive in tar order, mostly
/// sorted, and a B-tree filled in order leaves its nodes about half empty;
/// `append` rebuilds it from the sorted entries in one pass, freeing the old
/// nodes as it goes, so the peak does not double.
pub(super) fn compact(nodes: &mut BTreeMap<String, Node>) {
    let Some((k, v)) = nodes.pop_first() else {
        return;
    };
    let mut packed = BTreeMap::from([(k, v)]);
    packed.append(nodes);
    *nodes = packed;
}

impl Staged {
    pub fn new(layer: usize) -> Staged {
        Staged {
            layer,
            repack_at: 4096,
            ..Staged::default()
        }
    }

    /// Repacks the staged nodes each time they double (linear in all).
    fn grow(&mut self) {
        if self.nodes.len() >= self.repack_at {
            compact(&mut self.nodes);
            self.repack_at = self.nodes.len() * 2;
        }
    }

    /// Adds the next entry of the layer's tar.
    pub fn push(&mut self, e: LayerEntry) -> Result<(), Error> {
        let staged = &mut self.nodes;
        let (kind, meta) = match e.kind {
            EntryKind::Whiteout => {
                self.whiteouts.push(e.path);
                return Ok(());
            }
            EntryKind::Opaque => {
                self.opaques.push(e.path);
                return Ok(());
            }
            EntryKind::Node(k) => (k, e.meta),
            EntryKind::Hardlink(target) => match staged.get(&target) {
                // A link to a link still waiting for its lower-layer target waits too.
                Some(Node {
                    kind:
                        Kind::File {
                            data: PENDING,
                            hardlink: Some(lower),
                        },
                    ..
                }) => {
                    self.lower_links.push((e.path.clone(), lower.clone()));
                    (
                        Kind::File {
                            data: PENDING,
                            hardlink: Some(lower.clone()),
                        },
                        e.meta,
                    )
                }
                // A hardlink shares its target's inode: same size and metadata.
                Some(
                    t @ Node {
                        kind: Kind::File { data, .. },
                        ..
                    },
                ) => (
                    Kind::File {
                        data: *data,
                        hardlink: Some(target.clone()),
                    },
                    t.meta.clone(),
                ),
                Some(_) => {
                    return Err(Error::HardlinkNotFile {
                        path: e.path,
                        target,
                    })
                }
                None => {
                    self.lower_links.push((e.path.clone(), target.clone()));
                    (
                        Kind::File {
                            data: PENDING,
                            hardlink: Some(target),
                        },
                        e.meta,
                    )
                }
            },
        };
        if !matches!(kind, Kind::Dir) {
            // A non-directory replaces whatever this layer put below that path.
            let keys: Vec<String> = staged
                .range(below(&e.path))
                .map(|(k, _)| k.clone())
                .collect();
            for k in keys {
                staged.remove(&k);
            }
        }
        staged.insert(
            e.path,
            Node {
                kind,
                meta,
                layer: self.layer,
            },
        );
        self.grow();
        Ok(())
    }
}
