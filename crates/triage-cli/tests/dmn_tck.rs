//! The DMN conformance suite: each decision-table model of the DMN TCK
//! (Technology Compatibility Kit) that triage can express, written in the
//! rule format under `crates/triage-core/testdata/dmn-tck/<model>/`, with the
//! kit's test cases as rule tests. Every model must compile and every case
//! pass.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::path::PathBuf;

fn suite() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../triage-core/testdata/dmn-tck")
}

/// The models, by directory name (the TCK's own), in order.
fn models() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(suite())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_mirrored_tck_model_passes_the_kits_cases() {
    let models = models();
    assert!(models.len() >= 19, "the suite lost models: {models:?}");
    let mut cases = 0;
    for model in &models {
        let report = triage_cli::run_tests(&suite().join(model), None)
            .unwrap_or_else(|e| panic!("{model}: {e:?}"))
            .unwrap_or_else(|rendered| panic!("{model} does not compile:\n{rendered}"));
        assert!(report.problems.is_empty(), "{model}: {:?}", report.problems);
        assert!(report.outcomes.len() >= 3, "{model}: only {} cases", report.outcomes.len());
        for o in &report.outcomes {
            assert!(o.passed(), "{model}: {} failed: {:?}", o.name, o.failures);
        }
        cases += report.outcomes.len();
    }
    assert!(cases >= 57, "{cases} cases");
}

#[test]
fn the_readme_lists_every_mirrored_model() {
    let readme = std::fs::read_to_string(suite().join("README.md")).unwrap();
    for model in models() {
        assert!(readme.contains(&model), "{model} is not in the suite's README");
    }
}
