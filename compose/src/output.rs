//! The composed component as a list of pieces: the sections wtool encodes, and the input
//! components embedded verbatim between them. An input is never copied into the output, so
//! writing and validating an 18 MB composition hold the input once instead of twice.

use std::io::{self, Write};
use wac_graph::{CompositionGraph, PackageId};

/// A composed component, written with [`Output::write_to`] or flattened with
/// [`Output::to_vec`].
pub struct Output(Body);

enum Body {
    /// The whole component in one buffer.
    Bytes(Vec<u8>),
    /// Encoded sections with inputs between them; the graph owns the inputs' bytes (each
    /// `wac_types::Package` holds its own).
    Spliced {
        graph: Box<CompositionGraph>,
        pieces: Vec<Piece>,
    },
}

pub(crate) enum Piece {
    Bytes(Vec<u8>),
    Package(PackageId),
}

impl Piece {
    pub(crate) fn bytes<'a>(&'a self, graph: &'a CompositionGraph) -> &'a [u8] {
        match self {
            Piece::Bytes(bytes) => bytes,
            Piece::Package(id) => graph[*id].bytes(),
        }
    }
}

impl Output {
    /// `pieces` in order, the inputs among them looked up in `graph`.
    pub(crate) fn spliced(graph: CompositionGraph, pieces: Vec<Piece>) -> Self {
        Self(Body::Spliced {
            graph: Box::new(graph),
            pieces,
        })
    }

    /// The component's bytes in order, without joining them.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let (whole, graph, pieces) = match &self.0 {
            Body::Bytes(bytes) => (Some(bytes.as_slice()), None, &[][..]),
            Body::Spliced { graph, pieces } => (None, Some(graph), pieces.as_slice()),
        };
        // `graph` is only `None` when `pieces` is empty.
        whole.into_iter().chain(
            graph
                .into_iter()
                .flat_map(move |graph| pieces.iter().map(move |piece| piece.bytes(graph))),
        )
    }

    /// The component's size in bytes.
    pub fn len(&self) -> usize {
        self.chunks().map(<[u8]>::len).sum()
    }

    /// Whether the component has no bytes at all (never true of a composition).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the component to `out`, piece by piece.
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        // Fifty small plugs make a hundred small pieces: one write each would be a syscall each.
        // Pieces larger than the buffer still go straight through.
        let mut out = io::BufWriter::with_capacity(1 << 16, out);
        self.chunks().try_for_each(|chunk| out.write_all(chunk))?;
        out.flush()
    }

    /// The component in one new buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.len());
        self.chunks()
            .for_each(|chunk| bytes.extend_from_slice(chunk));
        bytes
    }

    /// The component in one buffer, without a copy when it already is one.
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Body::Bytes(bytes) => bytes,
            Body::Spliced { .. } => self.to_vec(),
        }
    }
}

impl From<Vec<u8>> for Output {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Body::Bytes(bytes))
    }
}
