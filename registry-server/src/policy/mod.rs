//! Publishing policies: what content is accepted ([`content`]), and which signing keys may
//! publish without a token ([`key`]).

pub mod content;
pub mod key;

pub(crate) use content::{ContentCheck, ContentPolicy, ContentRejection};
pub use key::{AuthorizedKeys, KeyList};
