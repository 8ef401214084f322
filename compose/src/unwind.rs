//! Upstream decoders still hold `unreachable!()`s that a valid but unusual input reaches: the
//! `inspect` fuzz target found a component that imports a component type as a type, which
//! wit-parser 0.258's decoder (and `wasm-tools component wit` 1.263) panics on. A panic there
//! must not take down the CLI or a registry worker, so such calls run through [`catching`]: a
//! panic becomes an error, and its message is not printed. Panics anywhere else are reported
//! as before.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
}

static QUIET_HOOK: Once = Once::new();

/// Runs `f`; a panic inside it is returned as its message.
pub(crate) fn catching<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CATCHING.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = CATCHING.with(|c| c.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(outer));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_values_pass_through() {
        assert_eq!(catching(|| 7), Ok(7));
        assert_eq!(
            catching(|| -> u8 { panic!("internal error: {}", "unreachable") }),
            Err("internal error: unreachable".to_string())
        );
        let nested = catching(|| catching(|| -> u8 { panic!("inner") }).unwrap_err());
        assert_eq!(nested, Ok("inner".to_string()));
    }
}
