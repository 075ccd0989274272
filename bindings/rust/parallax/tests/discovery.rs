//! Runtimes created on several threads at once, each discovering the OpenCL devices (PoCL): the
//! process's first discovery must not race with the others (PoCL sets its devices up during the
//! first clGetDeviceIDs; a concurrent clGetDeviceInfo crashed). A binary of its own, so that this
//! really is the process's first discovery.

use std::sync::Barrier;

use parallax::{DeviceTypes, Runtime};

#[test]
fn runtimes_created_on_eight_threads_discover_the_same_devices() {
    let start = Barrier::new(8);
    let found: Vec<Vec<String>> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    let rt = Runtime::builder().device_types(DeviceTypes::ANY).build().unwrap();
                    rt.devices().unwrap().into_iter().map(|d| format!("{} / {}", d.platform, d.name)).collect()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(!found[0].is_empty(), "PoCL is every test machine's OpenCL device");
    assert!(found.iter().all(|f| *f == found[0]), "{found:?}");
}
