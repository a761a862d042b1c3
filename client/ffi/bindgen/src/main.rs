//! `uniffi-bindgen`, the version client/ffi uses: `scripts/bindings` runs it in library mode on the built library.

fn main() {
    uniffi::uniffi_bindgen_main();
}
