// What one C call (or one async job) points to, freed together once the call
// (or the job) has ended: pinned managed arrays (passed without copies),
// unmanaged blocks for C structs and strings, GCHandles that C passes back as
// user_data, and references on the SafeHandles whose pointers sit in structs.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using Parallax.Interop;

namespace Parallax
{
    internal sealed class Pins : IDisposable
    {
        readonly List<GCHandle> handles = new List<GCHandle>();
        readonly List<IntPtr> blocks = new List<IntPtr>();
        readonly List<SafeHandle> held = new List<SafeHandle>();
        int disposed;

        /// <summary>Pins <paramref name="array"/> until Dispose; the address of its first element (Zero for null).</summary>
        public IntPtr Pin(Array array)
        {
            if (array == null) return IntPtr.Zero;
            GCHandle h = GCHandle.Alloc(array, GCHandleType.Pinned);
            handles.Add(h);
            return h.AddrOfPinnedObject();
        }

        /// <summary>A GCHandle of <paramref name="target"/>, as the user_data C passes back to a callback.</summary>
        public IntPtr Handle(object target)
        {
            GCHandle h = GCHandle.Alloc(target);
            handles.Add(h);
            return GCHandle.ToIntPtr(h);
        }

        /// <summary>Zeroed unmanaged memory, freed on Dispose.</summary>
        public IntPtr Alloc(long bytes)
        {
            if (bytes <= 0) bytes = 1;
            IntPtr p = Marshal.AllocHGlobal(new IntPtr(bytes));
            blocks.Add(p);
            unsafe
            {
                byte* b = (byte*)p;
                for (long i = 0; i < bytes; i++) b[i] = 0;
            }
            return p;
        }

        /// <summary>A NUL-terminated UTF-8 copy of <paramref name="text"/> (Zero for null).</summary>
        public IntPtr Text(string text, string field)
        {
            byte[] bytes = Library.Utf8Z(text, field);
            if (bytes == null) return IntPtr.Zero;
            IntPtr p = Alloc(bytes.Length);
            Marshal.Copy(bytes, 0, p, bytes.Length);
            return p;
        }

        /// <summary>Keeps <paramref name="handle"/> from being destroyed until Dispose; its pointer (Zero for null).</summary>
        public IntPtr Hold(SafeHandle handle)
        {
            if (handle == null) return IntPtr.Zero;
            bool added = false;
            handle.DangerousAddRef(ref added);
            held.Add(handle);
            return handle.DangerousGetHandle();
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) != 0) return;
            foreach (GCHandle h in handles) h.Free();
            foreach (IntPtr p in blocks) Marshal.FreeHGlobal(p);
            foreach (SafeHandle h in held) h.DangerousRelease();
            handles.Clear();
            blocks.Clear();
            held.Clear();
        }
    }
}
