"""A drop-in for reproject's mosaicking entry point: ``from parallax.compat.reproject import reproject_and_coadd``
instead of ``from reproject.mosaicking import reproject_and_coadd``.

It is :func:`parallax.reproject_and_coadd` (defined in :mod:`parallax.coadd`), re-exported here so that the drop-in
layers live under one package: the same arguments as reproject 0.10's ``reproject_and_coadd`` with
``reproject_function=reproject_interp`` (nearest-neighbour or bilinear), the same ``(array, footprint)`` results to
1e-6 relative (the data are read as float32), run by plx_coadd in C++ across all CPUs or on an OpenCL device. See its
docstring for what is refused (spline orders 2 and 3, background matching) and what is added (median, min, max,
first, last combines).
"""
from ..coadd import reproject_and_coadd

__all__ = ["reproject_and_coadd"]
