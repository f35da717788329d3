//! The bytes of the planned tree: the input's files, and what the plan made.

use super::*;

/// File contents of a plan: from the source layers, or made by slim.
pub struct PlanContent<'a> {
    pub plan: &'a Plan,
    pub layers: &'a Rootfs,
}

impl Content for PlanContent<'_> {
    fn open_node(&self, node: &Node) -> Option<Box<dyn Read + '_>> {
        match node.kind {
            Kind::File {
                data:
                    DataRef {
                        layer: MADE,
                        offset,
                    },
                ..
            } => Some(Box::new(std::io::Cursor::new(
                self.plan.made.get(offset as usize)?.as_slice(),
            ))),
            _ => self.layers.open_node(node),
        }
    }
}
