//! Decoding and classifying inputs before anything else looks at them.
