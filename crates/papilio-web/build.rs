//! Rebuilds the web crate when a message catalogue or template changes (the i18n macro reads
//! the catalogues at compile time without telling Cargo).
fn main() {
    println!("cargo:rerun-if-changed=locales");
    println!("cargo:rerun-if-changed=templates");
}
