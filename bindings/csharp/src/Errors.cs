// Exceptions: one class per plx_status_t, each carrying the status and the
// C library's message (plx_last_error_message, read right after the failing
// call on the calling thread). An exception a host callback threw is the
// InnerException of the exception the call ends with.
using System;

namespace Parallax
{
    /// <summary>The values of plx_status_t. Hosts must tolerate values they do not know.</summary>
    public enum Status
    {
        Ok = 0,
        InvalidArgument = 1,
        OutOfMemory = 2,
        Device = 3,
        NoDevice = 4,
        Cancelled = 5,
        TaskFailed = 6,
        Unsupported = 7,
        Version = 8,
        Io = 9,
        Internal = 10,
        BufferTooSmall = 11,
        Timeout = 12,
    }

    /// <summary>
    /// A failure reported by libparallax, or refused by the binding before the call (then the message is the
    /// binding's). <see cref="Status"/> is the plx_status_t, <see cref="StatusName"/> its C name and
    /// <see cref="Exception.Message"/> the library's explanation: what was wrong, which argument and value,
    /// and what to do. Catch a subclass for one status, or this class for all.
    /// </summary>
    [Serializable]
    public class ParallaxException : Exception
    {
        static readonly string[] Names =
        {
            "PLX_OK", "PLX_ERR_INVALID_ARGUMENT", "PLX_ERR_OUT_OF_MEMORY", "PLX_ERR_DEVICE", "PLX_ERR_NO_DEVICE",
            "PLX_ERR_CANCELLED", "PLX_ERR_TASK_FAILED", "PLX_ERR_UNSUPPORTED", "PLX_ERR_VERSION", "PLX_ERR_IO",
            "PLX_ERR_INTERNAL", "PLX_ERR_BUFFER_TOO_SMALL", "PLX_ERR_TIMEOUT",
        };

        public ParallaxException(Status status, string message, Exception inner = null)
            : base(message, inner)
        {
            Status = status;
        }

        /// <summary>The plx_status_t of the failure (possibly a value this binding has no name for).</summary>
        public Status Status { get; private set; }

        /// <summary>The C name of the status, e.g. "PLX_ERR_INVALID_ARGUMENT" ("PLX_ERR_UNKNOWN" when unknown).</summary>
        public string StatusName { get { return NameOf((int)Status); } }

        /// <summary>For a failure that ended a run: the run's report (null when it did not get that far).</summary>
        public RunReport Report { get; internal set; }

        /// <summary>For a failure that ended a task run: every task's result, in task order.</summary>
        public TaskResults Results { get; internal set; }

        internal static string NameOf(int status)
        {
            return status >= 0 && status < Names.Length ? Names[status] : "PLX_ERR_UNKNOWN";
        }

        /// <summary>The exception class of a status, with the message (and the callback's exception).</summary>
        public static ParallaxException FromStatus(int status, string message, Exception inner = null)
        {
            switch ((Status)status)
            {
                case Status.InvalidArgument: return new InvalidArgumentException(message, inner);
                case Status.OutOfMemory: return new ParallaxOutOfMemoryException(message, inner);
                case Status.Device: return new DeviceException(message, inner);
                case Status.NoDevice: return new NoDeviceException(message, inner);
                case Status.Cancelled: return new CancelledException(message, inner);
                case Status.TaskFailed: return new TaskFailedException(message, inner);
                case Status.Unsupported: return new UnsupportedException(message, inner);
                case Status.Version: return new VersionException(message, inner);
                case Status.Io: return new IoException(message, inner);
                case Status.Internal: return new InternalException(message, inner);
                case Status.BufferTooSmall: return new BufferTooSmallException(message, inner);
                case Status.Timeout: return new JobTimeoutException(message, inner);
                default: return new ParallaxException((Status)status, message, inner);
            }
        }
    }

    /// <summary>PLX_ERR_INVALID_ARGUMENT: an argument is missing, out of range or inconsistent.</summary>
    [Serializable]
    public class InvalidArgumentException : ParallaxException
    {
        public InvalidArgumentException(string message, Exception inner = null) : base(Status.InvalidArgument, message, inner) { }
    }

    /// <summary>PLX_ERR_OUT_OF_MEMORY: memory (host or device) is insufficient, or a plan's minimum does not fit
    /// the budget; the message has the numbers. (Named so as not to clash with System.OutOfMemoryException.)</summary>
    [Serializable]
    public class ParallaxOutOfMemoryException : ParallaxException
    {
        public ParallaxOutOfMemoryException(string message, Exception inner = null) : base(Status.OutOfMemory, message, inner) { }
    }

    /// <summary>PLX_ERR_DEVICE: an OpenCL call failed; the message names the call and its error.</summary>
    [Serializable]
    public class DeviceException : ParallaxException
    {
        public DeviceException(string message, Exception inner = null) : base(Status.Device, message, inner) { }
    }

    /// <summary>PLX_ERR_NO_DEVICE: a device was required and none matched.</summary>
    [Serializable]
    public class NoDeviceException : ParallaxException
    {
        public NoDeviceException(string message, Exception inner = null) : base(Status.NoDevice, message, inner) { }
    }

    /// <summary>PLX_ERR_CANCELLED: a cancel token, Job.Cancel or a progress callback stopped the run. When the
    /// progress callback threw, that exception is the InnerException.</summary>
    [Serializable]
    public class CancelledException : ParallaxException
    {
        public CancelledException(string message, Exception inner = null) : base(Status.Cancelled, message, inner) { }
    }

    /// <summary>PLX_ERR_TASK_FAILED: a callback threw or failed, or one or more tasks failed (see Results). The
    /// exception a callback threw is the InnerException.</summary>
    [Serializable]
    public class TaskFailedException : ParallaxException
    {
        public TaskFailedException(string message, Exception inner = null) : base(Status.TaskFailed, message, inner) { }
    }

    /// <summary>PLX_ERR_UNSUPPORTED: the request is valid but this build or machine cannot do it.</summary>
    [Serializable]
    public class UnsupportedException : ParallaxException
    {
        public UnsupportedException(string message, Exception inner = null) : base(Status.Unsupported, message, inner) { }
    }

    /// <summary>PLX_ERR_VERSION: a struct or library version mismatch.</summary>
    [Serializable]
    public class VersionException : ParallaxException
    {
        public VersionException(string message, Exception inner = null) : base(Status.Version, message, inner) { }
    }

    /// <summary>PLX_ERR_IO: a file could not be read or written.</summary>
    [Serializable]
    public class IoException : ParallaxException
    {
        public IoException(string message, Exception inner = null) : base(Status.Io, message, inner) { }
    }

    /// <summary>PLX_ERR_INTERNAL: a bug in Parallax; the message says where. Please report it.</summary>
    [Serializable]
    public class InternalException : ParallaxException
    {
        public InternalException(string message, Exception inner = null) : base(Status.Internal, message, inner) { }
    }

    /// <summary>PLX_ERR_BUFFER_TOO_SMALL: a caller buffer was too small (the binding retries by itself).</summary>
    [Serializable]
    public class BufferTooSmallException : ParallaxException
    {
        public BufferTooSmallException(string message, Exception inner = null) : base(Status.BufferTooSmall, message, inner) { }
    }

    /// <summary>PLX_ERR_TIMEOUT: Job.Wait ended before the job did; the job goes on. (Named so as not to
    /// clash with System.TimeoutException.)</summary>
    [Serializable]
    public class JobTimeoutException : ParallaxException
    {
        public JobTimeoutException(string message, Exception inner = null) : base(Status.Timeout, message, inner) { }
    }

    /// <summary>libparallax could not be loaded; the message says what was tried and what to do (status PLX_ERR_IO).</summary>
    [Serializable]
    public class LibraryNotFoundException : IoException
    {
        public LibraryNotFoundException(string message, Exception inner = null) : base(message, inner) { }
    }

    /// <summary>The loaded libparallax cannot serve this binding (another major version, or too old).</summary>
    [Serializable]
    public class LibraryVersionException : VersionException
    {
        public LibraryVersionException(string message, Exception inner = null) : base(message, inner) { }
    }
}
