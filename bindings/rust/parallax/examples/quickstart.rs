//! Quick start: plan for this machine, hand Parallax a loop, stack a few frames, co-add two tiles.
//!
//! cargo run --offline --example quickstart   (from bindings/rust)

use std::sync::atomic::{AtomicI64, Ordering};

use parallax::{CoaddDesc, CoaddInput, Reject, RunOptions, Runtime, StackDesc, Workload};

fn main() -> parallax::Result<()> {
    let rt = Runtime::builder().ram_fraction(0.5).build()?; // leave half the free memory to others
    let caps = rt.caps()?;
    println!(
        "{} usable CPUs, memory budget {:.1} GiB",
        caps.cpu_usable,
        caps.memory_budget_bytes as f64 / (1u64 << 30) as f64
    );

    // 13,000 frames of 1080 x 1920 x 3 float32, each processed on its own.
    let plan = rt.plan(&Workload::new(13_000, 1080 * 1920 * 3 * 4).working_set_factor(2.0).name("calibrate-frames"))?;
    let info = plan.info();
    println!(
        "{} workers, {} frames per chunk, {}",
        info.cpu_workers,
        info.items_per_chunk,
        if info.streaming { "streaming" } else { "all in memory" }
    );

    // A loop with a Rust closure, on the runtime's threads, chunked as the plan says.
    let seen = AtomicI64::new(0);
    let report = rt.parallel_for_with(0..13_000, &RunOptions::new().plan(&plan), |frames, _worker| {
        seen.fetch_add(frames.end - frames.start, Ordering::Relaxed); // calibrate frames.start..frames.end here
    })?;
    println!(
        "parallel_for: {} frames in {} chunks on {} workers",
        seen.load(Ordering::Relaxed),
        report.chunks,
        report.workers
    );

    // Stack five 64 x 64 frames with a cosmic ray in one of them; sigma clipping rejects it.
    let (h, w) = (64usize, 64usize);
    let frames: Vec<Vec<f32>> = (0..5)
        .map(|f| {
            (0..h * w)
                .map(|p| 100.0 + ((p * 7 + f * 3) % 5) as f32 + if f == 2 && p == 100 { 5000.0 } else { 0.0 })
                .collect()
        })
        .collect();
    let slices: Vec<&[f32]> = frames.iter().map(|f| &f[..]).collect(); // read in place, no copy
    let stacked = rt.stack(&StackDesc::new(&slices, h as i64, w as i64).reject(Reject::SigmaClip).sigma(2.0))?;
    println!(
        "stack: pixel 100 = {:.2} from {} of 5 frames ({} samples rejected)",
        stacked.image[100],
        stacked.count.as_ref().unwrap()[100],
        stacked.rejected
    );

    // Co-add two 32 x 48 tiles onto a 40 x 80 mosaic, the second shifted 30 pixels right and 8 down.
    let tile_a: Vec<f32> = (0..32 * 48).map(|p| (p % 48) as f32).collect();
    let tile_b: Vec<f32> = (0..32 * 48).map(|p| 30.0 + (p % 48) as f32).collect();
    let inputs = [
        CoaddInput::new(&tile_a, 32, 48),                                           // identity
        CoaddInput::new(&tile_b, 32, 48).affine([1.0, 0.0, -30.0, 0.0, 1.0, -8.0]), // xi = x - 30, yi = y - 8
    ];
    let mosaic = rt.coadd(&CoaddDesc::new(&inputs, 40, 80))?;
    println!(
        "coadd: {} of {} pixels covered, pixel (40, 10) = {:.1}",
        mosaic.info.covered,
        40 * 80,
        mosaic.image[10 * 80 + 40]
    );
    Ok(())
}
