//! Build script of the Lambda functions (scheduler, seller-run, import-tracker): an arm64 build
//! in the release profile must be the optimized one. Cargo.toml's release profile is the demo's
//! quick, unoptimized build; `scripts/lambda-profile.sh` makes it the functions' (opt-level 3,
//! fat LTO, one codegen unit). Forgetting to source it before `sam build` would deploy
//! unoptimized functions: this stops that build with the fix.

fn main() {
    println!("cargo::rerun-if-env-changed=CARGO_PROFILE_RELEASE_OPT_LEVEL");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let lambda_target = var("CARGO_CFG_TARGET_ARCH") == "aarch64" && var("CARGO_CFG_TARGET_OS") == "linux";
    if lambda_target && var("PROFILE") == "release" && var("OPT_LEVEL") == "0" {
        println!(
            "cargo::error=the Lambda functions are built optimized: `source scripts/lambda-profile.sh` \
             before `sam build` or `cargo lambda build --release` (Cargo.toml's release profile is the \
             demo's quick, unoptimized build)"
        );
    }
}
