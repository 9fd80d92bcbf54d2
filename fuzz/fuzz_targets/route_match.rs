//! The route matcher (`tokengate::api::route_for`, the route table `Endpoints::handle`
//! uses) and `Endpoints::is_mounted`: never a panic; a match is exact (the template with the
//! parameters put back is the path) and every matched path is mounted.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tokengate::api::Endpoints;
use tokengate::fuzzing::route_for;
use tokengate::store::MemoryStore;
use tokengate::Gate;

static ENDPOINTS: LazyLock<Endpoints> = LazyLock::new(|| {
    let gate = Gate::builder()
        .server_secret([7u8; 32])
        .store(MemoryStore::new())
        .build()
        .expect("a valid gate");
    Endpoints::from(gate)
});

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let full = format!("/v1/{path}");
    match route_for(path) {
        Some((template, params)) => {
            let mut rest = params.iter();
            let rebuilt: Vec<&str> = template
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        *rest.next().expect("a parameter per placeholder")
                    } else {
                        segment
                    }
                })
                .collect();
            assert!(rest.next().is_none(), "more parameters than placeholders");
            assert_eq!(rebuilt.join("/"), path);
            assert!(params.iter().all(|p| !p.contains('/')));
            assert!(ENDPOINTS.is_mounted(&full), "{full:?} matched but is not mounted");
        }
        None => {
            let first = path.split('/').next().unwrap_or_default();
            assert_eq!(ENDPOINTS.is_mounted(&full), first == "account" || first == "users");
        }
    }
    // The base path is matched exactly: no route without it.
    assert!(!ENDPOINTS.is_mounted(path) || path.starts_with("/v1/"));
});
