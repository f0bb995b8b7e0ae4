//! The gate's machine code at each 16-byte offset of a 64-byte line.
//!
//! Whether a few-instruction function costs a cycle more depends on where
//! the linker placed it: on this VM (AMD Zen 4), a function whose hot
//! instructions cross a 64-byte line pays for it. The bench crate aligns
//! every function to 64 bytes so that the rows compare code, not placement
//! (`benches/.cargo/config.toml`); this module measures what placement
//! does to each shape of code, so that the cost of the attribute does not
//! hinge on where it lands.
//!
//! Each shape below is a copy, instruction for instruction, of what rustc
//! emitted for the functions of `src/gate.rs` (`objdump -d` of the release
//! binary), placed at offsets 0, 16, 32 and 48 of a 64-byte line. The global
//! level is read through a pointer, as Rust reads another crate's static
//! (through the GOT); it is 0 (off), so the branches to `ud2` are never
//! taken. The rows call these with a direct `call`, as the other rows call
//! the real functions.

// The level (off; four bytes, for the `AtomicU32` shape) and the pointer
// the code loads it through.
core::arch::global_asm!(
    ".pushsection .bss.telemetry_bench_level,\"aw\",@nobits",
    ".p2align 2",
    "telemetry_bench_level: .long 0",
    ".popsection",
    ".pushsection .data.rel.ro.telemetry_bench_level_ptr,\"aw\",@progbits",
    ".p2align 3",
    "telemetry_bench_level_ptr: .quad telemetry_bench_level",
    ".popsection",
    options(att_syntax)
);

/// Defines `$name` at `$offset` bytes past a 64-byte boundary, in its own
/// section so that nothing else shares its line.
macro_rules! placed {
    ($name:expr, $offset:literal, $($code:literal),* $(,)?) => {
        core::arch::global_asm!(
            concat!(".pushsection .text.telemetry_bench_", $name, ",\"ax\",@progbits"),
            ".p2align 6",
            concat!(".skip ", $offset, ", 0xcc"),
            concat!(".globl ", $name),
            concat!(".hidden ", $name),
            concat!(".type ", $name, ",@function"),
            concat!($name, ":"),
            $($code,)*
            concat!(".size ", $name, ", . - ", $name),
            ".popsection",
            options(att_syntax)
        );
    };
}

/// One shape at each of the four offsets.
macro_rules! shape {
    ($name:literal, $($code:literal),* $(,)?) => {
        placed!(concat!("telemetry_bench_", $name, "_0"), "0", $($code),*);
        placed!(concat!("telemetry_bench_", $name, "_16"), "16", $($code),*);
        placed!(concat!("telemetry_bench_", $name, "_32"), "32", $($code),*);
        placed!(concat!("telemetry_bench_", $name, "_48"), "48", $($code),*);
    };
}

// `fn unannotated_value(x: u64) -> u64 { black_box(x) + 1 }`: 19 bytes.
shape!(
    "unannotated_value",
    "mov %rdi,-0x8(%rsp)",
    "lea -0x8(%rsp),%rax",
    "mov -0x8(%rsp),%rax",
    "inc %rax",
    "ret",
);

// The same with `#[requires_telemetry(instrument)]`, before this change:
// the level decoded into a `Level` and compared (`dec`, `cmp`), and the
// argument moved to the second register for the tail call to
// `record_around(event, arguments, body, ..)`. 38 bytes to the `ret`.
shape!(
    "instrument_before",
    "mov %rdi,%rsi",
    "mov telemetry_bench_level_ptr(%rip),%rax",
    "movzbl (%rax),%eax",
    "dec %al",
    "cmp $0x2,%al",
    "jb 1f",
    "mov %rsi,-0x8(%rsp)",
    "lea -0x8(%rsp),%rax",
    "mov -0x8(%rsp),%rax",
    "inc %rax",
    "ret",
    "1: ud2",
);

// After: the raw level byte tested (`test`), the body closure passed first
// so the argument stays where it is. 33 bytes to the `ret`.
shape!(
    "instrument_after",
    "mov telemetry_bench_level_ptr(%rip),%rax",
    "movzbl (%rax),%eax",
    "test %al,%al",
    "jne 1f",
    "mov %rdi,-0x8(%rsp)",
    "lea -0x8(%rsp),%rax",
    "mov -0x8(%rsp),%rax",
    "inc %rax",
    "ret",
    "1: ud2",
);

// Not in the library: the same if the level were an `AtomicU32` (a 2-byte
// `mov` instead of the 3-byte `movzbl`), 32 bytes to the `ret`. The level
// cell is the client's (`client.rs`), so this is only measured here.
shape!(
    "instrument_u32",
    "mov telemetry_bench_level_ptr(%rip),%rax",
    "mov (%rax),%eax",
    "test %eax,%eax",
    "jne 1f",
    "mov %rdi,-0x8(%rsp)",
    "lea -0x8(%rsp),%rax",
    "mov -0x8(%rsp),%rax",
    "inc %rax",
    "ret",
    "1: ud2",
);

// `fn unannotated(counter: &mut u64) { *counter = black_box(*counter) + 1 }`:
// 25 bytes.
shape!(
    "unannotated",
    "mov (%rdi),%rax",
    "mov %rax,-0x8(%rsp)",
    "lea -0x8(%rsp),%rax",
    "mov -0x8(%rsp),%rax",
    "inc %rax",
    "mov %rax,(%rdi)",
    "ret",
);

// The same with `#[requires_telemetry]`, before: the body inline, and with
// telemetry off a jump over it to the `ret` at its end (41 bytes in all).
shape!(
    "gated_before",
    "mov telemetry_bench_level_ptr(%rip),%rax",
    "movzbl (%rax),%eax",
    "dec %al",
    "cmp $0x1,%al",
    "ja 1f",
    "mov (%rdi),%rax",
    "mov %rax,-0x8(%rsp)",
    "lea -0x8(%rsp),%rax",
    "mov -0x8(%rsp),%rax",
    "inc %rax",
    "mov %rax,(%rdi)",
    "1: ret",
);

// After: the body out of line (a tail call to `run_gated`), so with
// telemetry off the function is 15 bytes up to its `ret`.
shape!(
    "gated_after",
    "mov telemetry_bench_level_ptr(%rip),%rax",
    "movzbl (%rax),%eax",
    "test %al,%al",
    "jne 1f",
    "ret",
    "1: ud2",
);

/// Calls a placed `fn(u64) -> u64`.
macro_rules! call_value {
    ($symbol:expr, $x:expr) => {{
        let result: u64;
        // SAFETY: the placed code follows the C ABI, reads only its
        // argument, the level byte and its own stack, and returns.
        unsafe {
            core::arch::asm!(
                concat!("call ", $symbol),
                inout("rdi") $x => _,
                lateout("rax") result,
                clobber_abi("C"),
            )
        };
        result
    }};
}

/// Calls a placed `fn(&mut u64)`.
macro_rules! call_counter {
    ($symbol:expr, $counter:expr) => {{
        let counter: *mut u64 = $counter;
        // SAFETY: as for `call_value`; the code writes only `*counter`.
        unsafe {
            core::arch::asm!(
                concat!("call ", $symbol),
                inout("rdi") counter => _,
                clobber_abi("C"),
            )
        };
    }};
}
