//! Mosaic co-addition: two tiles placed on an output grid by integer shifts, given as affine and
//! homography matrices, TAN WCS headers and coordinate-map closures, under every interpolation
//! and combine, against the known answer computed here by plain code; tiles, weights,
//! backgrounds, errors, and the OpenCL path on PoCL.

mod common;

use std::sync::Mutex;

use parallax::{
    fits_cards, CoaddCombine, CoaddDesc, CoaddInput, DevicePreference, Error, Interpolation, Progress, RunOptions,
};

const OUT_H: usize = 10;
const OUT_W: usize = 12;
// Tile A: 6 x 8 at output (x, y) = (1, 2); tile B: 5 x 7 at (4, 3).
const A_H: usize = 6;
const A_W: usize = 8;
const A_AT: (usize, usize) = (1, 2);
const B_H: usize = 5;
const B_W: usize = 7;
const B_AT: (usize, usize) = (4, 3);

fn tile(h: usize, w: usize, seed: usize) -> Vec<f32> {
    (0..h * w).map(|p| ((p * 37 + seed * 11) % 23) as f32 + 0.25 * seed as f32).collect()
}

/// One input as plain code sees it: its pixels, where it lands, its weights and background.
struct Plain<'a> {
    data: &'a [f32],
    h: usize,
    w: usize,
    at: (usize, usize),
    weight: f64,
    pixel_weights: Option<&'a [f32]>,
    background: f64,
}

/// The known answer: per output pixel, the (value, weight) of each covering input in input
/// order, combined as the header describes.
fn expected(inputs: &[Plain<'_>], combine: CoaddCombine) -> (Vec<f64>, Vec<f64>) {
    let mut image = vec![0.0; OUT_H * OUT_W];
    let mut footprint = vec![0.0; OUT_H * OUT_W];
    for y in 0..OUT_H {
        for x in 0..OUT_W {
            let mut vs = Vec::new();
            for i in inputs {
                let (xi, yi) = (x as i64 - i.at.0 as i64, y as i64 - i.at.1 as i64);
                if xi >= 0 && yi >= 0 && (xi as usize) < i.w && (yi as usize) < i.h {
                    let p = yi as usize * i.w + xi as usize;
                    let f = i.weight * i.pixel_weights.map_or(1.0, |w| f64::from(w[p]));
                    if f != 0.0 {
                        vs.push((f64::from(i.data[p]) - i.background, f));
                    }
                }
            }
            let k = y * OUT_W + x;
            footprint[k] = vs.iter().map(|(_, f)| f).sum();
            let mut values: Vec<f64> = vs.iter().map(|(v, _)| *v).collect();
            image[k] = match combine {
                CoaddCombine::Sum => vs.iter().map(|(v, f)| v * f).sum(),
                _ if vs.is_empty() => f64::NAN,
                CoaddCombine::Mean => vs.iter().map(|(v, f)| v * f).sum::<f64>() / footprint[k],
                CoaddCombine::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
                CoaddCombine::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                CoaddCombine::First => values[0],
                CoaddCombine::Last => values[values.len() - 1],
                CoaddCombine::Median => {
                    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    let n = values.len();
                    if n % 2 == 1 {
                        values[n / 2]
                    } else {
                        (values[n / 2 - 1] + values[n / 2]) / 2.0
                    }
                }
            };
        }
    }
    (image, footprint)
}

fn close(what: &str, got: &[f32], want: &[f64], tolerance: f64) {
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        let g = f64::from(*g);
        assert!(
            (g.is_nan() && w.is_nan()) || (g - w).abs() <= tolerance * w.abs().max(1.0),
            "{what}: pixel ({}, {}): got {g}, want {w}",
            k % OUT_W,
            k / OUT_W
        );
    }
}

fn shift(at: (usize, usize)) -> [f64; 6] {
    [1.0, 0.0, -(at.0 as f64), 0.0, 1.0, -(at.1 as f64)]
}

#[test]
fn every_interpolation_and_combine_gives_the_known_answer() {
    let rt = common::tiny();
    let (a, b) = (tile(A_H, A_W, 1), tile(B_H, B_W, 2));
    let inputs = [
        CoaddInput::new(&a, A_H as i64, A_W as i64).affine(shift(A_AT)),
        CoaddInput::new(&b, B_H as i64, B_W as i64).affine(shift(B_AT)),
    ];
    let plain = [
        Plain { data: &a, h: A_H, w: A_W, at: A_AT, weight: 1.0, pixel_weights: None, background: 0.0 },
        Plain { data: &b, h: B_H, w: B_W, at: B_AT, weight: 1.0, pixel_weights: None, background: 0.0 },
    ];
    let combines = [
        CoaddCombine::Mean,
        CoaddCombine::Sum,
        CoaddCombine::Min,
        CoaddCombine::Max,
        CoaddCombine::Median,
        CoaddCombine::First,
        CoaddCombine::Last,
    ];
    let interpolations =
        [Interpolation::Nearest, Interpolation::Bilinear, Interpolation::Bicubic, Interpolation::Lanczos3];
    for combine in combines {
        let (image, footprint) = expected(&plain, combine);
        for interpolation in interpolations {
            let r = rt
                .coadd(
                    &CoaddDesc::new(&inputs, OUT_H as i64, OUT_W as i64).combine(combine).interpolation(interpolation),
                )
                .unwrap();
            let what = format!("{combine:?} {interpolation:?}");
            close(&what, &r.image, &image, 1e-6);
            close(&what, &r.footprint, &footprint, 1e-6);
            assert_eq!(r.info.covered, footprint.iter().filter(|f| **f != 0.0).count() as i64, "{what}");
            assert_eq!(r.info.samples, (A_H * A_W + B_H * B_W) as i64, "{what}");
        }
    }
}

#[test]
fn weights_and_backgrounds() {
    let rt = common::tiny();
    let (a, b) = (tile(A_H, A_W, 3), tile(B_H, B_W, 4));
    let pixel_weights: Vec<f32> = (0..A_H * A_W).map(|p| if p % 5 == 0 { 0.0 } else { 1.0 + (p % 3) as f32 }).collect();
    let inputs = [
        CoaddInput::new(&a, A_H as i64, A_W as i64).affine(shift(A_AT)).pixel_weights(&pixel_weights).background(1.5),
        CoaddInput::new(&b, B_H as i64, B_W as i64).affine(shift(B_AT)).weight(0.5),
    ];
    let plain = [
        Plain { data: &a, h: A_H, w: A_W, at: A_AT, weight: 1.0, pixel_weights: Some(&pixel_weights), background: 1.5 },
        Plain { data: &b, h: B_H, w: B_W, at: B_AT, weight: 0.5, pixel_weights: None, background: 0.0 },
    ];
    for combine in [CoaddCombine::Mean, CoaddCombine::Sum, CoaddCombine::First] {
        let (image, footprint) = expected(&plain, combine);
        let r = rt
            .coadd(
                &CoaddDesc::new(&inputs, OUT_H as i64, OUT_W as i64)
                    .combine(combine)
                    .interpolation(Interpolation::Nearest),
            )
            .unwrap();
        close(&format!("{combine:?}"), &r.image, &image, 1e-6);
        close(&format!("{combine:?} footprint"), &r.footprint, &footprint, 1e-6);
    }
}

fn tan_header(crpix: (f64, f64), naxis: (usize, usize)) -> String {
    [
        "SIMPLE  =                    T".to_string(),
        "NAXIS   =                    2".to_string(),
        format!("NAXIS1  = {:>20}", naxis.0),
        format!("NAXIS2  = {:>20}", naxis.1),
        "CTYPE1  = 'RA---TAN'".to_string(),
        "CTYPE2  = 'DEC--TAN'".to_string(),
        "CRVAL1  =                 10.0".to_string(),
        "CRVAL2  =                 20.0".to_string(),
        format!("CRPIX1  = {:>20.1}", crpix.0),
        format!("CRPIX2  = {:>20.1}", crpix.1),
        "CDELT1  =               -0.001".to_string(),
        "CDELT2  =                0.001".to_string(),
        "CUNIT1  = 'deg'".to_string(),
        "CUNIT2  = 'deg'".to_string(),
        "END".to_string(),
    ]
    .join("\n")
}

#[test]
fn wcs_headers_homographies_and_coordinate_maps_give_the_same_mosaic() {
    let rt = common::tiny();
    let (a, b) = (tile(A_H, A_W, 5), tile(B_H, B_W, 6));
    let plain = [
        Plain { data: &a, h: A_H, w: A_W, at: A_AT, weight: 1.0, pixel_weights: None, background: 0.0 },
        Plain { data: &b, h: B_H, w: B_W, at: B_AT, weight: 1.0, pixel_weights: None, background: 0.0 },
    ];
    let (image, footprint) = expected(&plain, CoaddCombine::Mean);
    // The tiles share the output's tangent point and scale: their reference pixels are shifted.
    let out = tan_header((6.0, 5.0), (OUT_W, OUT_H));
    let header = |at: (usize, usize), h: usize, w: usize| tan_header((6.0 - at.0 as f64, 5.0 - at.1 as f64), (w, h));
    let wcs_inputs = [
        CoaddInput::new(&a, A_H as i64, A_W as i64).wcs(header(A_AT, A_H, A_W)),
        CoaddInput::new(&b, B_H as i64, B_W as i64).wcs(fits_cards(&header(B_AT, B_H, B_W)).unwrap()),
    ];
    let r = rt.coadd(&CoaddDesc::new(&wcs_inputs, OUT_H as i64, OUT_W as i64).output_wcs(&out)).unwrap();
    close("wcs", &r.image, &image, 1e-6);
    close("wcs footprint", &r.footprint, &footprint, 1e-6);
    assert_eq!((r.info.native_wcs, r.info.grid_wcs), (2, 0));

    let homography = |at: (usize, usize)| [1.0, 0.0, -(at.0 as f64), 0.0, 1.0, -(at.1 as f64), 0.0, 0.0, 1.0];
    let calls = Mutex::new(0usize);
    let mapped = [
        CoaddInput::new(&a, A_H as i64, A_W as i64).homography(homography(A_AT)),
        CoaddInput::new(&b, B_H as i64, B_W as i64).coordinate_map(
            |input, xo: &[f64], yo: &[f64], xi: &mut [f64], yi: &mut [f64]| {
                assert_eq!(input, 1);
                *calls.lock().unwrap() += 1;
                for k in 0..xo.len() {
                    xi[k] = xo[k] - B_AT.0 as f64;
                    yi[k] = yo[k] - B_AT.1 as f64;
                }
            },
        ),
    ];
    let r = rt.coadd(&CoaddDesc::new(&mapped, OUT_H as i64, OUT_W as i64)).unwrap();
    close("mapped", &r.image, &image, 1e-6);
    close("mapped footprint", &r.footprint, &footprint, 1e-6);
    assert!(*calls.lock().unwrap() > 0);
}

#[test]
fn tiles_assemble_into_the_same_image_and_crops_are_read_in_place() {
    let rt = common::tiny();
    let (a, b) = (tile(A_H, A_W, 7), tile(B_H, B_W, 8));
    // Tile A as a crop of a wider image: rows of 11 floats.
    let stride = A_W + 3;
    let mut wide = vec![f32::NAN; (A_H - 1) * stride + A_W];
    for y in 0..A_H {
        wide[y * stride..y * stride + A_W].copy_from_slice(&a[y * A_W..(y + 1) * A_W]);
    }
    let inputs = [
        CoaddInput::new(&wide, A_H as i64, A_W as i64).row_stride(stride as i64).affine(shift(A_AT)),
        CoaddInput::new(&b, B_H as i64, B_W as i64).affine(shift(B_AT)),
    ];
    let whole = rt.coadd(&CoaddDesc::new(&inputs, OUT_H as i64, OUT_W as i64)).unwrap();
    let plain = [
        Plain { data: &a, h: A_H, w: A_W, at: A_AT, weight: 1.0, pixel_weights: None, background: 0.0 },
        Plain { data: &b, h: B_H, w: B_W, at: B_AT, weight: 1.0, pixel_weights: None, background: 0.0 },
    ];
    close("crop", &whole.image, &expected(&plain, CoaddCombine::Mean).0, 1e-6);

    let mut image = vec![f32::MIN; OUT_H * OUT_W];
    let mut footprint = vec![f32::MIN; OUT_H * OUT_W];
    let last = Mutex::new(None);
    let desc = CoaddDesc::new(&inputs, OUT_H as i64, OUT_W as i64).options(
        RunOptions::new()
            .memory_budget_bytes(2 * 3 * OUT_W as i64 * 24) // three rows per worker: several tiles
            .workers(2)
            .progress_interval_ms(0)
            .progress(|p: &Progress| *last.lock().unwrap() = Some(*p)),
    );
    let info = rt
        .coadd_tiles(&desc, |row0, rows, im: &[f32], fp: &[f32]| {
            let start = row0 as usize * OUT_W;
            assert_eq!(im.len(), rows as usize * OUT_W);
            image[start..start + im.len()].copy_from_slice(im);
            footprint[start..start + fp.len()].copy_from_slice(fp);
        })
        .unwrap();
    drop(desc);
    assert!(info.tiles > 1, "{info:?}");
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&image), bits(&whole.image));
    assert_eq!(bits(&footprint), bits(&whole.footprint));
    let p = last.into_inner().unwrap().unwrap();
    assert_eq!((p.done, p.total), (OUT_H as i64, OUT_H as i64));
}

#[test]
fn bad_coadds_are_refused_with_a_message() {
    let rt = common::tiny();
    let a = tile(A_H, A_W, 1);
    let one = |input: CoaddInput<'_>| rt.coadd(&CoaddDesc::new(&[input], OUT_H as i64, OUT_W as i64)).map(|_| ());
    let e = one(CoaddInput::new(&a[..10], A_H as i64, A_W as i64)).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("inputs[0] data holds 10 floats")), "{e:?}");
    let e = one(CoaddInput::new(&a, A_H as i64, A_W as i64).pixel_weights(&a[..5])).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("pixel weights holds 5 floats")), "{e:?}");
    let e = one(CoaddInput::new(&a, A_H as i64, A_W as i64).affine([f64::NAN, 0.0, 0.0, 0.0, 1.0, 0.0])).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = one(CoaddInput::new(&a, A_H as i64, A_W as i64).wcs(tan_header((1.0, 1.0), (A_W, A_H)))).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.to_lowercase().contains("wcs")), "{e:?}");
    let e = rt
        .coadd(
            &CoaddDesc::new(&[CoaddInput::new(&a, A_H as i64, A_W as i64).wcs("garbage")], 4, 4)
                .output_wcs(tan_header((1.0, 1.0), (4, 4))),
        )
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = rt.coadd(&CoaddDesc::new(&[], 4, 4)).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = one(CoaddInput::new(&a, A_H as i64, A_W as i64).weight(f64::INFINITY)).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");

    let e = one(CoaddInput::new(&a, A_H as i64, A_W as i64)
        .coordinate_map(|_, _: &[f64], _: &[f64], _: &mut [f64], _: &mut [f64]| -> () { panic!("no astrometry") }))
    .unwrap_err();
    assert!(
        matches!(&e, Error::TaskFailed(m) if m.contains("coordinate map of inputs[0] panicked: no astrometry")),
        "{e:?}"
    );
    let inputs = [CoaddInput::new(&a, A_H as i64, A_W as i64)];
    let e = rt.coadd_tiles(&CoaddDesc::new(&inputs, 4, 4), |_, _, _: &[f32], _: &[f32]| Err("disk full")).unwrap_err();
    assert!(matches!(&e, Error::TaskFailed(m) if m.contains("tile function") && m.contains("disk full")), "{e:?}");
}

#[test]
fn fits_cards_pads_lines_to_80_characters() {
    let cards = fits_cards("SIMPLE  = T\n\nEND\n").unwrap();
    assert_eq!(cards.len(), 160);
    assert!(cards.starts_with("SIMPLE  = T ") && cards[80..].starts_with("END "));
    assert_eq!(fits_cards("already cards").unwrap(), "already cards");
    assert!(
        matches!(fits_cards(&format!("{}\nEND", "X".repeat(81))), Err(Error::InvalidArgument(m)) if m.contains("81 characters"))
    );
    assert!(matches!(fits_cards("CRVAL1  = 'é'\nEND"), Err(Error::InvalidArgument(m)) if m.contains("ASCII")));
}

#[test]
fn the_opencl_path_on_pocl_agrees_with_the_cpu() {
    let rt = common::device_runtime();
    let (a, b) = (tile(A_H, A_W, 9), tile(B_H, B_W, 10));
    let inputs = [
        CoaddInput::new(&a, A_H as i64, A_W as i64).affine([1.0, 0.1, -1.2, -0.05, 1.0, -1.7]),
        CoaddInput::new(&b, B_H as i64, B_W as i64).affine(shift(B_AT)).weight(2.0),
    ];
    let desc = |device| {
        CoaddDesc::new(&inputs, OUT_H as i64, OUT_W as i64).interpolation(Interpolation::Bicubic).device(device)
    };
    let cpu = rt.coadd(&desc(DevicePreference::Cpu)).unwrap();
    let gpu = rt.coadd(&desc(DevicePreference::Gpu)).unwrap();
    assert!(gpu.info.device_index.is_some() && cpu.info.device_index.is_none());
    let want: Vec<f64> = cpu.image.iter().map(|v| f64::from(*v)).collect();
    close("device", &gpu.image, &want, 1e-6);
    assert_eq!(gpu.footprint, cpu.footprint);
}
