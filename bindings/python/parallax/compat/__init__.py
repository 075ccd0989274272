"""Drop-in layers: Parallax behind the names existing astronomy software already calls, so that adopting it is
one import.

- :mod:`parallax.compat.zemosaic`: ``ParallelPlan`` and ``auto_tune_parallel_plan(kind, frame_shape, n_frames,
  bytes_per_pixel, config=None, caps=None)`` as in the mosaic stacker ZeMosaic's ``parallel_utils`` module, backed by
  the Parallax planner (usable CPUs under affinity and cgroups, memory budgets, OpenCL devices).
- :mod:`parallax.compat.ccdproc`: ``Combiner`` (and ``combine``) as in ccdproc: ``sigma_clipping``,
  ``minmax_clipping``, ``clip_extrema``, ``weights``, ``scaling``, ``average_combine``, ``median_combine``,
  ``sum_combine``, with the same semantics; the combines (and, when no per-sample mask is needed, the rejection
  fused with them) run in :func:`parallax.stack`, the rest in numpy or astropy exactly as ccdproc does.
- :mod:`parallax.compat.reproject`: ``reproject_and_coadd`` as in reproject (``reproject_interp``), which is
  :func:`parallax.reproject_and_coadd`.

Each module's docstring says what is exact, what runs where, and what differs. The submodules are imported on
demand (``from parallax.compat.ccdproc import Combiner``); none is imported by ``import parallax``.
"""

__all__ = ["zemosaic", "ccdproc", "reproject"]
