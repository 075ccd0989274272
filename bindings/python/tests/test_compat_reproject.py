"""parallax.compat.reproject re-exports parallax.reproject_and_coadd, and it runs against reproject on a tiny case."""
import numpy as np
import pytest

import parallax
from parallax.compat import reproject as compat

pytest.importorskip("reproject")
from astropy.wcs import WCS  # noqa: E402
from reproject import reproject_interp  # noqa: E402
from reproject.mosaicking import reproject_and_coadd as reference  # noqa: E402


def tan(crpix, shape):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.cdelt = [-1e-3, 1e-3]
    w.wcs.crpix = crpix
    w.pixel_shape = shape[::-1]
    return w


def test_it_is_the_same_function():
    assert compat.reproject_and_coadd is parallax.reproject_and_coadd
    assert compat.__all__ == ["reproject_and_coadd"]


def test_a_tiny_mosaic_matches_reproject(rt):
    rng = np.random.default_rng(2)
    a, b = (rng.uniform(1, 2, (12, 14)) for _ in range(2))
    inputs = [(a, tan([7.0, 6.0], a.shape)), (b, tan([3.0, 4.0], b.shape))]
    out = tan([10.0, 9.0], (20, 22))
    image, footprint = compat.reproject_and_coadd(inputs, out, shape_out=(20, 22), runtime=rt)
    ref_image, ref_footprint = reference(inputs, out, shape_out=(20, 22), reproject_function=reproject_interp)
    np.testing.assert_allclose(footprint, ref_footprint, rtol=1e-6, atol=1e-9)
    ok = ref_footprint > 0
    np.testing.assert_allclose(image[ok], ref_image[ok], rtol=1e-6)
