// SafeHandle subclasses for every opaque C handle: each is destroyed exactly
// once, by Dispose or at the latest by its (critical) finalizer, and never
// while a P/Invoke call on another thread still uses it (SafeHandle counts
// the calls in flight; the last one out destroys).
using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace Parallax.Interop
{
    /// <summary>The common base: a non-NULL pointer owned by this object.</summary>
    public abstract class ParallaxHandle : SafeHandle
    {
        protected ParallaxHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
    }

    /// <summary>plx_runtime_t*, destroyed by plx_runtime_destroy; it also frees the log bridge it was given.</summary>
    public sealed class RuntimeHandle : ParallaxHandle
    {
        IntPtr logSink;  // a GCHandle (as IntPtr) of the runtime's log bridge, freed after the runtime

        internal void SetLogSink(GCHandle sink) { logSink = GCHandle.ToIntPtr(sink); }

        protected override bool ReleaseHandle()
        {
            Native.plx_runtime_destroy(handle);
            IntPtr sink = Interlocked.Exchange(ref logSink, IntPtr.Zero);
            if (sink != IntPtr.Zero) GCHandle.FromIntPtr(sink).Free();
            return true;
        }
    }

    /// <summary>plx_plan_t*, destroyed by plx_plan_destroy. A plan does not refer to its runtime.</summary>
    public sealed class PlanHandle : ParallaxHandle
    {
        protected override bool ReleaseHandle()
        {
            Native.plx_plan_destroy(handle);
            return true;
        }
    }

    /// <summary>plx_cancel_token_t*, destroyed by plx_cancel_token_destroy (once no run holds it).</summary>
    public sealed class CancelTokenHandle : ParallaxHandle
    {
        protected override bool ReleaseHandle()
        {
            Native.plx_cancel_token_destroy(handle);
            return true;
        }
    }

    /// <summary>
    /// plx_job_t*, destroyed by plx_job_destroy (which cancels the job if it still runs and waits for it);
    /// then what the job's run pointed to (callbacks' state, C structs in unmanaged memory) is freed.
    /// </summary>
    public sealed class JobHandle : ParallaxHandle
    {
        IDisposable resources;

        internal void SetResources(IDisposable run) { resources = run; }

        protected override bool ReleaseHandle()
        {
            Native.plx_job_destroy(handle);
            IDisposable run = Interlocked.Exchange(ref resources, null);
            if (run != null) run.Dispose();
            return true;
        }
    }

    /// <summary>
    /// A handle made from a runtime (kernel, buffer): it holds a reference on the runtime's handle, so that
    /// the C runtime is destroyed only after it, whatever order Dispose or the finalizers run in.
    /// </summary>
    public abstract class RuntimeChildHandle : ParallaxHandle
    {
        RuntimeHandle parent;

        internal void SetParent(RuntimeHandle runtime)
        {
            bool added = false;
            runtime.DangerousAddRef(ref added);
            parent = runtime;
        }

        protected abstract void Destroy(IntPtr pointer);

        protected override bool ReleaseHandle()
        {
            Destroy(handle);
            RuntimeHandle p = Interlocked.Exchange(ref parent, null);
            if (p != null) p.DangerousRelease();
            return true;
        }
    }

    /// <summary>plx_kernel_t*, destroyed by plx_kernel_destroy before its runtime.</summary>
    public sealed class KernelHandle : RuntimeChildHandle
    {
        protected override void Destroy(IntPtr pointer) { Native.plx_kernel_destroy(pointer); }
    }

    /// <summary>plx_buffer_t*, destroyed by plx_buffer_destroy before its runtime.</summary>
    public sealed class BufferHandle : RuntimeChildHandle
    {
        protected override void Destroy(IntPtr pointer) { Native.plx_buffer_destroy(pointer); }
    }

    /// <summary>
    /// A reference on a SafeHandle for the duration of a call that passes its raw pointer (optional handles,
    /// handles stored in C structs): <c>using (var use = new HandleUse(plan)) { ... use.Pointer ... }</c>.
    /// A null handle gives IntPtr.Zero; a disposed one throws ObjectDisposedException.
    /// </summary>
    internal struct HandleUse : IDisposable
    {
        readonly SafeHandle owner;
        readonly bool added;
        public readonly IntPtr Pointer;

        public HandleUse(SafeHandle handle)
        {
            owner = handle;
            added = false;
            Pointer = IntPtr.Zero;
            if (handle == null) return;
            handle.DangerousAddRef(ref added);
            Pointer = handle.DangerousGetHandle();
        }

        public void Dispose()
        {
            if (added) owner.DangerousRelease();
        }
    }
}
