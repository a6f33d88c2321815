//! Compiles `proto/lianfang.proto` with protox (pure Rust), so no system
//! `protoc` is needed, then generates prost types and the tonic service.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fds = protox::compile(["lianfang.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto/lianfang.proto");
    Ok(())
}
