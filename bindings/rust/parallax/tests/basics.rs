//! Versions and the load-time check, errors (one variant per status, with the C message), the
//! runtime's options, capabilities and description, plans, the log callback, and that every
//! function of plugin.def has a wrapper.

mod common;

use std::sync::{Arc, Mutex};

use parallax::{
    sys, DevicePolicy, DevicePreference, Error, Layout, LogLevel, Runtime, Version, Workload, WorkloadKind,
    HEADER_VERSION,
};

#[test]
fn versions_of_the_loaded_library() {
    let v = parallax::version();
    assert_eq!(v, Version::from_number(unsafe { sys::plx_version() }));
    assert_eq!(v.major, HEADER_VERSION.major);
    assert!(v.minor >= HEADER_VERSION.minor);
    assert_eq!(parallax::version_string(), v.to_string());
    assert_eq!(v.number(), v.major * 10000 + v.minor * 100 + v.patch);
    assert!(parallax::abi_compatible(0, 1));
    assert!(parallax::abi_compatible(0, 0));
    assert!(!parallax::abi_compatible(1, 0));
    assert!(!parallax::abi_compatible(0, 99));
    assert!(!parallax::abi_compatible(-1, 0));
    assert_eq!(parallax::check_library().unwrap(), v);
}

#[test]
fn a_library_of_another_major_version_is_refused_with_a_clear_message() {
    let e = parallax::check_compatible(Version { major: 1, minor: 0, patch: 0 }, "1.0.0", false).unwrap_err();
    assert!(matches!(e, Error::Version(_)), "{e:?}");
    assert_eq!(e.status(), sys::PLX_ERR_VERSION);
    let m = e.message();
    assert!(m.contains("libparallax is 1.0.0 (plx_version 10000)"), "{m}");
    assert!(m.contains("needs a library 0.x with x >= 1"), "{m}");
    assert!(m.contains("PARALLAX_LIB_DIR"), "{m}");
    // A major that matches but a minor too old, or a library that says it is incompatible.
    assert!(parallax::check_compatible(Version { major: 0, minor: 0, patch: 9 }, "0.0.9", true).is_err());
    assert!(parallax::check_compatible(Version { major: 0, minor: 1, patch: 0 }, "0.1.0", false).is_err());
    assert!(parallax::check_compatible(Version { major: 0, minor: 3, patch: 2 }, "0.3.2", true).is_ok());
}

#[test]
fn one_error_variant_per_status() {
    let names = [
        "PLX_ERR_INVALID_ARGUMENT",
        "PLX_ERR_OUT_OF_MEMORY",
        "PLX_ERR_DEVICE",
        "PLX_ERR_NO_DEVICE",
        "PLX_ERR_CANCELLED",
        "PLX_ERR_TASK_FAILED",
        "PLX_ERR_UNSUPPORTED",
        "PLX_ERR_VERSION",
        "PLX_ERR_IO",
        "PLX_ERR_INTERNAL",
        "PLX_ERR_BUFFER_TOO_SMALL",
        "PLX_ERR_TIMEOUT",
    ];
    let mut seen = std::collections::HashSet::new();
    for (i, name) in names.iter().enumerate() {
        let status = i as i32 + 1;
        let e = Error::from_status(status, format!("message {status}"));
        assert_eq!(e.status(), status);
        assert_eq!(e.status_name(), *name);
        assert_eq!(parallax::status_string(status), *name);
        assert_eq!(e.message(), format!("message {status}"));
        assert_eq!(e.to_string(), format!("{name}: message {status}"));
        assert!(seen.insert(std::mem::discriminant(&e)), "{name} shares a variant");
        assert!(!matches!(e, Error::Unknown { .. }));
    }
    let unknown = Error::from_status(77, "from the future");
    assert_eq!(unknown, Error::Unknown { status: 77, message: "from the future".into() });
    assert_eq!(unknown.status_name(), "PLX_ERR_UNKNOWN");
    assert_eq!(parallax::status_string(0), "PLX_OK");
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::Io("no file".into()));
    assert_eq!(boxed.to_string(), "PLX_ERR_IO: no file");
}

#[test]
fn bad_arguments_give_the_c_message_on_the_calling_thread() {
    let rt = common::tiny();
    let e = rt.plan(&Workload::new(0, 1000)).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    assert!(e.message().contains("workload.items"), "{e}");
    // The same message as the library's last error on this thread.
    assert_eq!(parallax::last_error(), Some(e.clone()));
    let e = rt.plan(&Workload::new(10, 1000).working_set_factor(f64::NAN)).unwrap_err();
    assert!(e.message().contains("working_set_factor"), "{e}");
    let e = rt.plan(&Workload::new(10, 1000).name("bad\0name")).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("NUL")), "{e:?}");
    // A plan whose minimum does not fit the budget.
    let e = rt.plan(&Workload::new(10, 1000).per_worker_bytes(1 << 50)).unwrap_err();
    assert!(matches!(e, Error::OutOfMemory(_)), "{e:?}");
}

#[test]
fn runtime_options_are_checked_by_the_library() {
    let tiny = common::profile("tiny-2c-4g");
    let message = |b: parallax::RuntimeBuilder, status| common::message_of(b.build(), status);
    let m = message(Runtime::builder().machine_profile(&tiny).ram_fraction(2.0), sys::PLX_ERR_INVALID_ARGUMENT);
    assert!(m.contains("ram_fraction"), "{m}");
    let m = message(Runtime::builder().machine_profile("/no/such/profile.json"), sys::PLX_ERR_IO);
    assert!(m.contains("/no/such/profile.json"), "{m}");
    let m = message(Runtime::builder().machine_profile("{\"cpu\": 12}"), sys::PLX_ERR_INVALID_ARGUMENT);
    assert!(!m.is_empty());
    let m =
        message(Runtime::builder().machine_profile(&tiny).fault_injection("nonsense"), sys::PLX_ERR_INVALID_ARGUMENT);
    assert!(m.contains("nonsense") || m.contains("fault"), "{m}");
    let m = message(
        Runtime::builder().machine_profile(&tiny).device_policy(DevicePolicy::GpuRequired),
        sys::PLX_ERR_NO_DEVICE,
    );
    assert!(!m.is_empty());
    let m = message(Runtime::builder().device_filter("a\0b"), sys::PLX_ERR_INVALID_ARGUMENT);
    assert!(m.contains("device_filter"), "{m}");
    // Options that are fine.
    Runtime::builder()
        .machine_profile_file(&tiny)
        .max_cpu_workers(1)
        .reserve_cpus(0)
        .ram_fraction(0.5)
        .vram_fraction(0.25)
        .device_policy(DevicePolicy::CpuOnly)
        .sysroot("/")
        .device_memory_limit_bytes(1 << 30)
        .device_replicas(2)
        .no_disk_cache()
        .build()
        .unwrap();
}

#[test]
fn capabilities_of_profiles_and_of_this_machine() {
    let rt = common::tiny();
    let caps = rt.caps().unwrap();
    assert_eq!((caps.cpu_logical, caps.cpu_usable, caps.numa_nodes, caps.device_count), (2, 2, 1, 0));
    assert!(caps.from_profile);
    assert_eq!(caps.memory_total_bytes, 4 << 30);
    assert_eq!(caps.memory_limit_bytes, None);
    assert_eq!(caps.cpu_quota, None);
    assert_eq!(caps.memory_budget_bytes, (3i64 << 30) * 3 / 4);
    assert!(rt.devices().unwrap().is_empty());
    let e = rt.device_info(0).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");

    let server = Runtime::builder().machine_profile(common::profile("server-128c-2numa-512g-4gpu")).build().unwrap();
    let caps = server.caps().unwrap();
    assert_eq!(caps.numa_nodes, 2);
    let devices = server.devices().unwrap();
    assert_eq!(devices.len(), 4);
    assert!(devices.iter().enumerate().all(|(i, d)| d.index == i as i32 && d.simulated && !d.name.is_empty()));

    let container = Runtime::builder().machine_profile(common::profile("container-64c-quota2-2g")).build().unwrap();
    let caps = container.caps().unwrap();
    assert_eq!(caps.cpu_usable, 2);
    assert_eq!(caps.cpu_quota, Some(2.0));
    assert!(caps.memory_limit_bytes.is_some());

    let here = Runtime::new().unwrap();
    let caps = here.caps().unwrap();
    assert!(!caps.from_profile && caps.cpu_usable >= 1);
    let json = here.describe_json().unwrap();
    for key in ["\"cpu\"", "\"memory\"", "\"devices\"", "\"options\"", "\"sources\"", "\"warnings\""] {
        assert!(json.contains(key), "{key} missing in {json}");
    }
}

#[test]
fn plans_and_their_numbers() {
    let rt = Runtime::builder().machine_profile(common::profile("laptop-8c-16g")).build().unwrap();
    let plan = rt.plan(&Workload::new(100, 1 << 20)).unwrap();
    let info = plan.info();
    assert_eq!(info.cpu_workers, rt.caps().unwrap().cpu_usable);
    assert!(!info.use_gpu && !info.streaming);
    assert!(info.items_per_chunk >= 1 && info.chunk_count >= 1);
    assert_eq!(info.total_bytes, (100u64 << 20) as f64);
    let reasons = plan.reasons().unwrap();
    assert!(!reasons.is_empty() && reasons.iter().any(|r| r.contains("cpu_workers")), "{reasons:?}");
    let json = plan.describe_json().unwrap();
    assert!(json.contains("\"reasons\"") && json.contains("\"budgets\""), "{json}");

    let frames = Workload::new(13_000, 24_883_200)
        .rows(1080, 23_040)
        .kind(WorkloadKind::Mixed)
        .layout(Layout::RowsAcrossItems)
        .working_set_factor(2.0)
        .max_workers(4)
        .name("stack frames");
    let server = Runtime::builder().machine_profile(common::profile("server-128c-2numa-512g-4gpu")).build().unwrap();
    let plan = server.plan(&frames).unwrap();
    let info = plan.info();
    assert!(info.use_gpu && info.cpu_workers <= 4 && info.rows_per_chunk >= 1, "{info:?}");
    assert_eq!(plan.devices().len() as i32, info.device_count);
    let shares: f64 = plan.devices().iter().map(|d| d.share).sum();
    assert!((shares - 1.0).abs() < 1e-9, "{:?}", plan.devices());
    // Plans outlive their runtime, and clones share one handle.
    let copy = plan.clone();
    drop(server);
    drop(plan);
    assert_eq!(copy.info(), info);
    assert!(copy.describe_json().unwrap().contains("stack frames"));

    let cpu = rt.plan(&Workload::new(10, 1000).prefer(DevicePreference::Cpu).kind(WorkloadKind::Io)).unwrap();
    assert!(cpu.info().cpu_workers >= 8);
}

#[derive(Default)]
struct Lines(Mutex<Vec<(LogLevel, String)>>);

#[test]
fn the_log_callback_receives_the_library_lines() {
    let lines = Arc::new(Lines::default());
    let sink = lines.clone();
    let rt = Runtime::builder()
        .machine_profile(common::profile("tiny-2c-4g"))
        .log_level(LogLevel::Debug)
        .log(move |level, line| sink.0.lock().unwrap().push((level, line.to_string())))
        .build()
        .unwrap();
    rt.plan(&Workload::new(10, 1000).name("logged")).unwrap();
    rt.parallel_for(0..100, |_, _| ()).unwrap();
    let got = lines.0.lock().unwrap().clone();
    assert!(got.iter().any(|(l, m)| *l == LogLevel::Info && m.contains("\"event\":\"runtime_summary\"")), "{got:?}");
    assert!(got.iter().any(|(_, m)| m.contains("parallel_plan_summary") && m.contains("logged")), "{got:?}");
    assert!(got.iter().any(|(_, m)| m.contains("parallel_run_summary")), "{got:?}");

    // At Warn, no Info lines.
    let quiet = Arc::new(Lines::default());
    let sink = quiet.clone();
    let rt = Runtime::builder()
        .machine_profile(common::profile("tiny-2c-4g"))
        .log_level(LogLevel::Warn)
        .log(move |level, line| sink.0.lock().unwrap().push((level, line.to_string())))
        .build()
        .unwrap();
    rt.plan(&Workload::new(10, 1000)).unwrap();
    assert!(quiet.0.lock().unwrap().iter().all(|(l, _)| *l <= LogLevel::Warn));
}

#[test]
fn a_panicking_log_callback_is_contained() {
    let calls = Arc::new(Mutex::new(0));
    let count = calls.clone();
    let rt = Runtime::builder()
        .machine_profile(common::profile("tiny-2c-4g"))
        .log(move |_, _| {
            *count.lock().unwrap() += 1;
            panic!("the log callback panics");
        })
        .build()
        .unwrap();
    assert_eq!(rt.plan(&Workload::new(10, 1000)).unwrap().info().cpu_workers, 2);
    assert!(*calls.lock().unwrap() >= 2);
}

#[test]
fn calls_into_the_runtime_from_its_own_log_callback_are_refused() {
    // The callback reaches the runtime through its address (set once it exists).
    let runtime: Arc<Mutex<usize>> = Arc::new(Mutex::new(0));
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let (address, seen) = (runtime.clone(), refusals.clone());
    let rt = Runtime::builder()
        .machine_profile(common::profile("tiny-2c-4g"))
        .log(move |_, _| {
            let a = *address.lock().unwrap();
            if a != 0 {
                // SAFETY: the runtime outlives its log calls.
                let rt = unsafe { &*(a as *const Runtime) };
                seen.lock().unwrap().push(rt.caps().unwrap_err());
            }
        })
        .build()
        .unwrap();
    *runtime.lock().unwrap() = &rt as *const Runtime as usize;
    rt.plan(&Workload::new(10, 1000)).unwrap();
    *runtime.lock().unwrap() = 0;
    let refusals = refusals.lock().unwrap();
    assert!(!refusals.is_empty());
    assert!(refusals.iter().all(|e| matches!(e, Error::InvalidArgument(m) if m.contains("own log callback"))));
    // Other runtimes may be called from it, and this one afterwards.
    assert!(rt.caps().is_ok());
}

#[test]
fn every_function_of_plugin_def_has_a_wrapper() {
    let repo = common::repo_dir();
    let def = std::fs::read_to_string(repo.join("plugin.def")).unwrap();
    let names: Vec<&str> = def.lines().map(str::trim).filter(|l| l.starts_with("plx_")).collect();
    assert!(names.len() >= 50, "{names:?}");
    let src = repo.join("bindings/rust/parallax/src");
    let mut text = String::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let mut sys_text = String::new();
    for entry in std::fs::read_dir(repo.join("bindings/rust/parallax-sys/src")).unwrap() {
        sys_text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    // `sys::NAME` as a whole word: called, or passed to init_struct.
    let used = |name: &str| {
        let needle = format!("sys::{name}");
        text.match_indices(&needle)
            .any(|(at, _)| !text[at + needle.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
    };
    let missing: Vec<&&str> = names.iter().filter(|n| !used(n)).collect();
    assert!(missing.is_empty(), "no safe wrapper calls {missing:?}");
    let undeclared: Vec<&&str> = names.iter().filter(|n| !sys_text.contains(&format!("pub fn {n}("))).collect();
    assert!(undeclared.is_empty(), "parallax-sys does not declare {undeclared:?}");
}
