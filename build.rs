//! `sqlx::migrate!` embeds `migrations/` at compile time, but cargo does not know the macro read it: without this,
//! adding a migration and nothing else rebuilt nothing, and the binary ran the old schema.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
