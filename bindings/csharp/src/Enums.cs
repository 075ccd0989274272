// The C enums of include/parallax.h, with the C values. The library validates
// every value it is given: a cast of an out-of-range int is refused there with
// PLX_ERR_INVALID_ARGUMENT, not here.
using System;

namespace Parallax
{
    /// <summary>Log severity (plx_log_level_t); a runtime passes messages at or above its level.</summary>
    public enum LogLevel { Off = 0, Error = 1, Warn = 2, Info = 3, Debug = 4 }

    /// <summary>Which devices a runtime may use (plx_device_policy_t).</summary>
    public enum DevicePolicy
    {
        /// <summary>An OpenCL device when the workload asks for one and one matches; else the CPU.</summary>
        Auto = 0,
        /// <summary>Never touch OpenCL.</summary>
        CpuOnly = 1,
        /// <summary>NoDeviceException at creation when no device matches; never fall back to the CPU.</summary>
        GpuRequired = 2,
    }

    /// <summary>OpenCL device types, as bits of a mask (plx_device_type_t).</summary>
    [Flags]
    public enum DeviceTypes
    {
        /// <summary>The library's default (GPU | Accelerator).</summary>
        Default = 0,
        /// <summary>A CPU OpenCL device such as PoCL.</summary>
        Cpu = 1,
        Gpu = 2,
        Accelerator = 4,
        Any = 7,
    }

    /// <summary>What limits a workload (plx_workload_kind_t).</summary>
    public enum WorkloadKind { Cpu = 0, Memory = 1, Io = 2, Gpu = 3, Mixed = 4 }

    /// <summary>How a workload's chunks are cut (plx_workload_layout_t).</summary>
    public enum WorkloadLayout
    {
        /// <summary>Items are processed independently.</summary>
        Items = 0,
        /// <summary>Each output row needs that row of every item (stacking): chunks are bands of rows.</summary>
        RowsAcrossItems = 1,
    }

    /// <summary>Where a workload would rather run (plx_device_preference_t).</summary>
    public enum DevicePreference { Auto = 0, Cpu = 1, Gpu = 2 }

    /// <summary>How the surviving samples of a pixel are combined (plx_stack_combine_t).</summary>
    public enum StackCombine { Mean = 0, WeightedMean = 1, Sum = 2, Median = 3, Min = 4, Max = 5 }

    /// <summary>How outliers are rejected before combining (plx_stack_reject_t).</summary>
    public enum StackReject { None = 0, SigmaClip = 1, WinsorizedSigmaClip = 2, Percentile = 3, MinMax = 4 }

    /// <summary>The centre of sigma clipping (plx_stack_centre_t).</summary>
    public enum StackCentre { Median = 0, Mean = 1 }

    /// <summary>Where the weights of WeightedMean come from (plx_stack_weights_t).</summary>
    public enum StackWeights { None = 0, Given = 1, NoiseVariance = 2 }

    /// <summary>Per-frame normalization to the reference frame (plx_stack_normalize_t).</summary>
    public enum StackNormalize { None = 0, Additive = 1, Multiplicative = 2, LinearFit = 3 }

    /// <summary>How output pixel coordinates map to an input's (plx_coadd_mapping_t).</summary>
    public enum CoaddMapping { Affine = 0, Homography = 1, Wcs = 2, CoordinateMap = 3 }

    /// <summary>Interpolation of input pixels (plx_interpolation_t).</summary>
    public enum Interpolation { Nearest = 0, Bilinear = 1, Bicubic = 2, Lanczos3 = 3 }

    /// <summary>How the inputs covering an output pixel are combined (plx_coadd_combine_t).</summary>
    public enum CoaddCombine { Mean = 0, Sum = 1, Min = 2, Max = 3, Median = 4, First = 5, Last = 6 }
}
