//! With the `ebpf` feature, compiles the exec tracepoint program (`bpf/exec.bpf.c`) with
//! clang into an object that `src/ebpf.rs` embeds. Without the feature there is nothing to
//! build, so the default build needs no clang.

fn main() {
    println!("cargo:rerun-if-changed=bpf/exec.bpf.c");
    if std::env::var_os("CARGO_FEATURE_EBPF").is_none() {
        return;
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out.join("exec.bpf.o");
    // The multiarch include directory holds `asm/types.h`, which `linux/types.h` needs.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let multiarch = match arch.as_str() {
        "x86_64" => "/usr/include/x86_64-linux-gnu",
        "aarch64" => "/usr/include/aarch64-linux-gnu",
        _ => "/usr/include",
    };
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let status = std::process::Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-I{multiarch}"))
        .arg("-c")
        .arg("bpf/exec.bpf.c")
        .arg("-o")
        .arg(&object)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "compiling bpf/exec.bpf.c with {clang} failed ({s}); the ebpf feature needs clang \
             and libbpf's headers (Debian: apt-get install clang libbpf-dev)"
        ),
        Err(e) => panic!(
            "running {clang}: {e}; the ebpf feature needs clang and libbpf's headers \
             (Debian: apt-get install clang libbpf-dev), or CLANG=/path/to/clang"
        ),
    }
}
