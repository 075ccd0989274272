//! plx_gemm through Runtime::gemm against a naive reference, on the CPU.

mod common;

use parallax::{DevicePreference, Error, Gemm, MatrixLayout, Runtime};

/// Element (i, j) of a stored matrix.
fn at(x: &[f64], layout: MatrixLayout, ld: usize, i: usize, j: usize) -> f64 {
    match layout {
        MatrixLayout::RowMajor => x[i * ld + j],
        MatrixLayout::ColMajor => x[i + j * ld],
    }
}

#[allow(clippy::too_many_arguments)]
fn reference(
    layout: MatrixLayout,
    (ta, tb): (bool, bool),
    (m, n, k): (usize, usize, usize),
    alpha: f64,
    a: &[f64],
    lda: usize,
    b: &[f64],
    ldb: usize,
    beta: f64,
    c: &mut [f64],
    ldc: usize,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0;
            for p in 0..k {
                let av = if ta { at(a, layout, lda, p, i) } else { at(a, layout, lda, i, p) };
                let bv = if tb { at(b, layout, ldb, j, p) } else { at(b, layout, ldb, p, j) };
                s += av * bv;
            }
            let idx = match layout {
                MatrixLayout::RowMajor => i * ldc + j,
                MatrixLayout::ColMajor => i + j * ldc,
            };
            c[idx] = alpha * s + if beta == 0.0 { 0.0 } else { beta * c[idx] };
        }
    }
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn cpu() -> Runtime {
    common::tiny()
}

fn close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "element {i}: {g} vs {w}");
    }
}

#[test]
fn every_layout_and_transpose_matches_the_reference() {
    let rt = cpu();
    let (m, n, k) = (7usize, 5usize, 9usize);
    for layout in [MatrixLayout::RowMajor, MatrixLayout::ColMajor] {
        for ta in [false, true] {
            for tb in [false, true] {
                // Stored shapes, with leading dimensions padded by 2.
                let (ar, ac) = if ta { (k, m) } else { (m, k) };
                let (br, bc) = if tb { (n, k) } else { (k, n) };
                let ld = |r: usize, c: usize| if layout == MatrixLayout::RowMajor { c + 2 } else { r + 2 };
                let (lda, ldb, ldc) = (ld(ar, ac), ld(br, bc), ld(m, n));
                let outer = |r: usize, c: usize| if layout == MatrixLayout::RowMajor { r } else { c };
                let a = values(outer(ar, ac) * lda, 1);
                let b = values(outer(br, bc) * ldb, 2);
                let c0 = values(outer(m, n) * ldc, 3);
                let (alpha, beta) = (1.5, -0.5);
                let mut want = c0.clone();
                reference(layout, (ta, tb), (m, n, k), alpha, &a, lda, &b, ldb, beta, &mut want, ldc);

                let mut c = c0.clone();
                let g = Gemm::new(&a, &b, m as i64, n as i64, k as i64)
                    .layout(layout)
                    .trans_a(ta)
                    .trans_b(tb)
                    .alpha(alpha)
                    .beta(beta)
                    .lda(lda as i64)
                    .ldb(ldb as i64)
                    .ldc(ldc as i64)
                    .device(DevicePreference::Cpu);
                let info = rt.gemm(&g, &mut c).unwrap();
                assert_eq!(info.device_index, None);
                assert!(info.path == "openblas" || info.path == "blocked", "{}", info.path);
                close(&c, &want, 1e-12);

                // The same in single precision.
                let af: Vec<f32> = a.iter().map(|&v| v as f32).collect();
                let bf: Vec<f32> = b.iter().map(|&v| v as f32).collect();
                let mut cf: Vec<f32> = c0.iter().map(|&v| v as f32).collect();
                let gf = Gemm::new(&af, &bf, m as i64, n as i64, k as i64)
                    .layout(layout)
                    .trans_a(ta)
                    .trans_b(tb)
                    .alpha(alpha)
                    .beta(beta)
                    .lda(lda as i64)
                    .ldb(ldb as i64)
                    .ldc(ldc as i64)
                    .device(DevicePreference::Cpu)
                    .workers(1);
                rt.gemm(&gf, &mut cf).unwrap();
                let cf: Vec<f64> = cf.iter().map(|&v| v as f64).collect();
                close(&cf, &want, 1e-5);
            }
        }
    }
}

#[test]
fn packed_defaults_compute_a_times_b() {
    let rt = cpu();
    let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0];
    let mut c = [0.0f32; 4];
    rt.gemm(&Gemm::new(&a, &b, 2, 2, 3).device(DevicePreference::Cpu), &mut c).unwrap();
    assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
    let mut c = [0.0f32; 4];
    // The same bytes read column-major: A = [[1, 3, 5], [2, 4, 6]], B = [[1, 1], [0, 1], [0, 1]].
    rt.gemm(&Gemm::new(&a, &b, 2, 2, 3).layout(MatrixLayout::ColMajor).device(DevicePreference::Cpu), &mut c).unwrap();
    assert_eq!(c, [1.0, 2.0, 9.0, 12.0]);
}

#[test]
fn beta_zero_does_not_read_c() {
    let rt = cpu();
    let (m, n, k) = (4usize, 3usize, 5usize);
    let a = values(m * k, 4);
    let b = values(k * n, 5);
    let mut c = vec![f64::NAN; m * n];
    rt.gemm(&Gemm::new(&a, &b, m as i64, n as i64, k as i64).device(DevicePreference::Cpu), &mut c).unwrap();
    assert!(c.iter().all(|v| v.is_finite()), "{c:?}");
    let mut want = vec![0.0; m * n];
    reference(MatrixLayout::RowMajor, (false, false), (m, n, k), 1.0, &a, k, &b, n, 0.0, &mut want, n);
    close(&c, &want, 1e-12);
    // With beta != 0, NaN in C propagates.
    let mut c = vec![f64::NAN; m * n];
    rt.gemm(&Gemm::new(&a, &b, m as i64, n as i64, k as i64).beta(1.0).device(DevicePreference::Cpu), &mut c).unwrap();
    assert!(c.iter().all(|v| v.is_nan()));
    // alpha = 0: C = beta C, A and B not read (they may be empty).
    let mut c = vec![2.0f64; m * n];
    let info = rt
        .gemm(
            &Gemm::new(&[], &[], m as i64, n as i64, k as i64).alpha(0.0).beta(3.0).device(DevicePreference::Cpu),
            &mut c,
        )
        .unwrap();
    assert_eq!(info.path, "scale");
    assert!(c.iter().all(|&v| v == 6.0));
}

#[test]
fn bad_arguments_give_the_library_message() {
    let rt = cpu();
    let a = vec![1.0f64; 12];
    let b = vec![1.0f64; 12];
    let mut c = vec![0.0f64; 16];
    // lda smaller than a stored row: refused by the library, which names the field.
    let err = rt.gemm(&Gemm::new(&a, &b, 3, 3, 4).lda(2).device(DevicePreference::Cpu), &mut c).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(err.message().contains("lda"), "{err}");
    let err = rt.gemm(&Gemm::new(&a, &b, -1, 3, 4).device(DevicePreference::Cpu), &mut c).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(err.message().contains('m'), "{err}");
    // Slices too short for the sizes: refused by the binding before the call.
    let err = rt.gemm(&Gemm::new(&a, &b, 4, 4, 4).device(DevicePreference::Cpu), &mut c).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(ref m) if m.contains("a has 12 elements")), "{err:?}");
    // Batched: negative count, from the library.
    let err = rt.gemm_batched_strided(&Gemm::new(&a, &b, 2, 2, 2), &mut c, -1, 4, 4, 4).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(err.message().contains("batch_count"), "{err}");
}

#[test]
fn batched_strided_matches_the_reference() {
    let rt = cpu();
    let (m, n, k, batch) = (3usize, 4usize, 5usize, 6usize);
    let a = values(batch * m * k, 6);
    let b = values(k * n, 7); // shared: stride 0
    let mut c = vec![f64::NAN; batch * m * n];
    let g = Gemm::new(&a, &b, m as i64, n as i64, k as i64).alpha(2.0).device(DevicePreference::Cpu);
    rt.gemm_batched_strided(&g, &mut c, batch as i64, (m * k) as i64, 0, (m * n) as i64).unwrap();
    for i in 0..batch {
        let mut want = vec![0.0; m * n];
        reference(MatrixLayout::RowMajor, (false, false), (m, n, k), 2.0, &a[i * m * k..], k, &b, n, 0.0, &mut want, n);
        close(&c[i * m * n..(i + 1) * m * n], &want, 1e-12);
    }
    // A C slice too short for the batch is refused before the call.
    let mut short = vec![0.0; (batch - 1) * m * n];
    let err = rt.gemm_batched_strided(&g, &mut short, batch as i64, (m * k) as i64, 0, (m * n) as i64).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(ref m) if m.contains("c has")), "{err:?}");
    // Overlapping C matrices: the library's refusal.
    let err = rt.gemm_batched_strided(&g, &mut c, batch as i64, (m * k) as i64, 0, 1).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}
