//! The `#[job]` attribute: parse, validate, expand.

use proc_macro::TokenStream;

/// Turns an `async fn` into a background job type. See the `jobs` crate.
#[proc_macro_attribute]
pub fn job(_args: TokenStream, input: TokenStream) -> TokenStream {
    input
}
