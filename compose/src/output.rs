//! The composed component as a list of pieces: the sections wtool encodes, and the input
//! components embedded verbatim between them. An input is never copied into the output, so
//! writing and validating an 18 MB composition hold the input once instead of twice.

use std::io::{self, Write};
use wac_graph::{CompositionGraph, PackageId};

/// A composed component, written with [`Output::write_to`] or flattened with
/// [`Output::to_vec`].
pub struct Output {
    /// Owns the embedded inputs' bytes (each `wac_types::Package` holds its own).
    graph: Option<CompositionGraph>,
    pieces: Vec<Piece>,
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
    pub(crate) fn new(graph: CompositionGraph, pieces: Vec<Piece>) -> Self {
        Self {
            graph: Some(graph),
            pieces,
        }
    }

    /// The component's bytes in order, without joining them.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.pieces
            .iter()
            .map(move |piece| match (piece, &self.graph) {
                (Piece::Bytes(bytes), _) => bytes.as_slice(),
                (piece, Some(graph)) => piece.bytes(graph),
                (Piece::Package(_), None) => unreachable!("package pieces come with their graph"),
            })
    }

    pub fn len(&self) -> usize {
        self.chunks().map(<[u8]>::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        // Fifty small plugs make a hundred small pieces: one write each would be a syscall each.
        // Pieces larger than the buffer still go straight through.
        let mut out = io::BufWriter::with_capacity(1 << 16, out);
        self.chunks().try_for_each(|chunk| out.write_all(chunk))?;
        out.flush()
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.len());
        self.chunks()
            .for_each(|chunk| bytes.extend_from_slice(chunk));
        bytes
    }

    pub fn into_vec(mut self) -> Vec<u8> {
        match self.pieces.as_mut_slice() {
            [Piece::Bytes(bytes)] => std::mem::take(bytes),
            _ => self.to_vec(),
        }
    }
}

impl From<Vec<u8>> for Output {
    fn from(bytes: Vec<u8>) -> Self {
        Self {
            graph: None,
            pieces: vec![Piece::Bytes(bytes)],
        }
    }
}
