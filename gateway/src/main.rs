//! The `gateway` command: see `gateway --help`.

use std::ffi::{c_char, c_int, c_void};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    openssl_on_mimalloc();
    std::process::exit(gateway::cli::run(std::env::args_os()));
}

extern "C" {
    /// OpenSSL's allocator hooks (`crypto.h`, OpenSSL 1.1.0 and later; not in `openssl-sys`).
    fn CRYPTO_set_mem_functions(
        malloc: unsafe extern "C" fn(usize, *const c_char, c_int) -> *mut c_void,
        realloc: unsafe extern "C" fn(*mut c_void, usize, *const c_char, c_int) -> *mut c_void,
        free: unsafe extern "C" fn(*mut c_void, *const c_char, c_int),
    ) -> c_int;
}

/// OpenSSL allocates with the C library's `malloc` unless told otherwise; most of an idle TLS
/// connection's memory is OpenSSL's, and glibc's heap keeps the pages between long-lived
/// objects that handshakes' freed buffers leave. mimalloc (the Rust allocator) keeps sizes
/// apart and returns emptied pages. OpenSSL accepts the hooks only before its first
/// allocation, so this runs first; if refused, OpenSSL keeps its own.
fn openssl_on_mimalloc() {
    unsafe extern "C" fn malloc(size: usize, _: *const c_char, _: c_int) -> *mut c_void {
        libmimalloc_sys::mi_malloc(size)
    }
    unsafe extern "C" fn realloc(
        p: *mut c_void,
        size: usize,
        _: *const c_char,
        _: c_int,
    ) -> *mut c_void {
        libmimalloc_sys::mi_realloc(p, size)
    }
    unsafe extern "C" fn free(p: *mut c_void, _: *const c_char, _: c_int) {
        libmimalloc_sys::mi_free(p)
    }
    // SAFETY: the three functions form one allocator; OpenSSL refuses them (returns 0) once it
    // has allocated, so no block from one allocator reaches the other's `free`.
    unsafe { CRYPTO_set_mem_functions(malloc, realloc, free) };
}
