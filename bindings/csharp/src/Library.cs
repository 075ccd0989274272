// Loading libparallax, the version check, status names, the thread's last
// error, and the helpers that turn a failed status into an exception.
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Parallax.Interop;

namespace Parallax
{
    /// <summary>
    /// The loaded library: its version, the compatibility check made before any other call, status names and
    /// the calling thread's last error.
    ///
    /// How the library is found: mono maps <c>[DllImport("parallax")]</c> to <c>libparallax.so.0</c> through
    /// Parallax.dll.config (a &lt;dllmap&gt;, which must sit next to Parallax.dll) and dlopen()s it, searching
    /// <c>LD_LIBRARY_PATH</c> (e.g. <c>build/src</c>), then the system's library cache. When
    /// <c>$PARALLAX_LIBRARY</c> is set to the full path of a library file, that file is loaded first and is
    /// the one used.
    /// </summary>
    public static class Library
    {
        /// <summary>The header version this binding mirrors (PLX_VERSION_MAJOR / MINOR).</summary>
        public const int HeaderMajor = 0;
        public const int HeaderMinor = 1;
        /// <summary>Names the library file to load instead of searching LD_LIBRARY_PATH.</summary>
        public const string EnvironmentVariable = "PARALLAX_LIBRARY";
        /// <summary>The file mono looks for (Parallax.dll.config maps "parallax" to it).</summary>
        public const string SoName = "libparallax.so.0";

        static readonly object Gate = new object();
        static volatile bool loaded;
        static Exception failure;  // kept: every later use fails the same way

        [DllImport("libdl.so.2", EntryPoint = "dlopen")]
        static extern IntPtr dlopen(string file, int mode);

        [DllImport("libdl.so.2", EntryPoint = "dlerror")]
        static extern IntPtr dlerror();

        [DllImport("libdl.so.2", EntryPoint = "dlclose")]
        static extern int dlclose(IntPtr handle);

        [DllImport("libdl.so.2", EntryPoint = "dlinfo")]
        static extern int dlinfo(IntPtr handle, int request, out IntPtr info);

        const int RTLD_LAZY = 1, RTLD_NOW = 2, RTLD_NOLOAD = 4, RTLD_GLOBAL = 0x100, RTLD_DI_LINKMAP = 2;

        /// <summary>
        /// Loads libparallax if not done yet and checks that it can serve this binding: the same major version
        /// (plx_version() / 10000 == HeaderMajor) and plx_abi_compatible(HeaderMajor, HeaderMinor). Every
        /// class of the binding calls it before its first C call; calling it first is a way to fail early.
        /// </summary>
        /// <exception cref="LibraryNotFoundException">no libparallax could be loaded (the message says what to do).</exception>
        /// <exception cref="LibraryVersionException">the loaded one has another major version or is too old.</exception>
        public static void EnsureLoaded()
        {
            if (loaded) return;
            lock (Gate)
            {
                if (loaded) return;
                if (failure == null) failure = Load();
                if (failure == null)
                {
                    loaded = true;
                    return;
                }
            }
            throw Again(failure);
        }

        static Exception Again(Exception e)
        {
            // A new exception each time (a thrown exception's stack trace is overwritten), same type and text.
            if (e is LibraryVersionException) return new LibraryVersionException(e.Message);
            return new LibraryNotFoundException(e.Message, e.InnerException);
        }

        static Exception Load()
        {
            string path = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (!string.IsNullOrEmpty(path))
            {
                if (dlopen(path, RTLD_NOW | RTLD_GLOBAL) == IntPtr.Zero)
                {
                    string why = Marshal.PtrToStringAnsi(dlerror()) ?? "dlopen failed";
                    return new LibraryNotFoundException(string.Format(
                        "cannot load libparallax from ${0} = {1}: {2}. Set {0} to the full path of {3} (e.g. " +
                        "build/src/{3} after `cmake --build build`), or unset it to search LD_LIBRARY_PATH.",
                        EnvironmentVariable, path, why, SoName));
                }
            }
            uint packed;
            int compatible;
            string text;
            try
            {
                ReadVersion(out packed, out compatible, out text);
            }
            catch (Exception e)
            {
                if (!(e is DllNotFoundException || e is EntryPointNotFoundException || e is BadImageFormatException))
                    throw;
                return new LibraryNotFoundException(string.Format(
                    "cannot load libparallax ({0}: {1}). Set LD_LIBRARY_PATH to the directory of {2} (e.g. " +
                    "build/src after `cmake --build build`), or ${3} to its full path, or install it " +
                    "(`make install`, then ldconfig); Parallax.dll.config must sit next to Parallax.dll.",
                    e.GetType().Name, e.Message, SoName, EnvironmentVariable), e);
            }
            string loadedPath = LoadedPath();
            if (!string.IsNullOrEmpty(path) && !SameObject(path, SoName))
                return new LibraryNotFoundException(string.Format(
                    "${0} = {1} was loaded, but its SONAME is not {2}, so mono bound {3} instead: point ${0} at a " +
                    "{2} (e.g. build/src/{2}).", EnvironmentVariable, path, SoName, loadedPath ?? "another library"));
            string refusal = CheckVersion(packed, compatible != 0, text, loadedPath ?? path ?? SoName);
            return refusal == null ? null : new LibraryVersionException(refusal);
        }

        // Mono binds a method's [DllImport]s when it compiles the method, so every method that calls Native must
        // be compiled after the dlopen() of $PARALLAX_LIBRARY above: the first calls are in methods of their own,
        // never inlined, and the classes' entry points load the library before calling such a method
        // (Library.Loaded() in a constructor chain).
        [MethodImpl(MethodImplOptions.NoInlining)]
        static void ReadVersion(out uint packed, out int compatible, out string text)
        {
            packed = Native.plx_version();
            compatible = Native.plx_abi_compatible(HeaderMajor, HeaderMinor);
            text = Utf8(Native.plx_version_string());
        }

        /// <summary>EnsureLoaded() as an expression, for constructor chains: true.</summary>
        internal static bool Loaded()
        {
            EnsureLoaded();
            return true;
        }

        /// <summary>
        /// Why a library reporting <paramref name="packed"/> (plx_version) and
        /// <paramref name="compatible"/> (plx_abi_compatible(HeaderMajor, HeaderMinor)) cannot serve this
        /// binding, or null when it can.
        /// </summary>
        public static string CheckVersion(uint packed, bool compatible, string versionString, string where)
        {
            if (compatible && packed / 10000 == HeaderMajor) return null;
            return string.Format(
                "{0} is libparallax {1} (plx_version {2}), which cannot serve this binding, written for header " +
                "{3}.{4}: it needs a library {3}.x with x >= {4} (same major version). Install one, or point " +
                "LD_LIBRARY_PATH or ${5} to one.",
                where, versionString, packed, HeaderMajor, HeaderMinor, EnvironmentVariable);
        }

        /// <summary>The file of the libparallax.so.0 this process has loaded (the one mono binds), or null.</summary>
        public static string LoadedPath()
        {
            IntPtr h = dlopen(SoName, RTLD_LAZY | RTLD_NOLOAD);
            if (h == IntPtr.Zero) return null;
            try
            {
                IntPtr map;  // struct link_map: l_addr, then char* l_name
                if (dlinfo(h, RTLD_DI_LINKMAP, out map) != 0 || map == IntPtr.Zero) return null;
                return Marshal.PtrToStringAnsi(Marshal.ReadIntPtr(map, IntPtr.Size));
            }
            finally { dlclose(h); }
        }

        /// <summary>Whether two names dlopen() to the same loaded object.</summary>
        static bool SameObject(string a, string b)
        {
            IntPtr ha = dlopen(a, RTLD_LAZY | RTLD_NOLOAD), hb = dlopen(b, RTLD_LAZY | RTLD_NOLOAD);
            try { return ha != IntPtr.Zero && ha == hb; }
            finally
            {
                if (ha != IntPtr.Zero) dlclose(ha);
                if (hb != IntPtr.Zero) dlclose(hb);
            }
        }

        /// <summary>The loaded library's version, "major.minor.patch" (plx_version_string).</summary>
        public static string VersionString
        {
            get { EnsureLoaded(); return Raw.VersionString(); }
        }

        /// <summary>The loaded library's packed version, major * 10000 + minor * 100 + patch (plx_version).</summary>
        public static uint VersionNumber
        {
            get { EnsureLoaded(); return Raw.Version(); }
        }

        /// <summary>The loaded library's version as a System.Version (major.minor.patch).</summary>
        public static Version Version
        {
            get
            {
                uint v = VersionNumber;
                return new Version((int)(v / 10000), (int)(v / 100 % 100), (int)(v % 100));
            }
        }

        /// <summary>Whether the loaded library can serve a host written for header major.minor (plx_abi_compatible).</summary>
        public static bool AbiCompatible(int major, int minor)
        {
            EnsureLoaded();
            return Raw.AbiCompatible(major, minor);
        }

        /// <summary>The C name of a status, e.g. "PLX_ERR_INVALID_ARGUMENT"; "PLX_ERR_UNKNOWN" when unknown (plx_status_string).</summary>
        public static string StatusString(int status)
        {
            EnsureLoaded();
            return Raw.StatusString(status);
        }

        /// <summary>The message of the last failure on the calling thread ("" when none) (plx_last_error_message).
        /// Meaningful only right after a call failed: the binding's exceptions already carry it.</summary>
        public static string LastErrorMessage
        {
            get { EnsureLoaded(); return Raw.LastErrorMessage(); }
        }

        /// <summary>The status of the last failure on the calling thread (Ok when none) (plx_last_error_status).</summary>
        public static Status LastErrorStatus
        {
            get { EnsureLoaded(); return Raw.LastErrorStatus(); }
        }

        /// <summary>The C calls of the members above, compiled only once the library is loaded (see ReadVersion).</summary>
        static class Raw
        {
            [MethodImpl(MethodImplOptions.NoInlining)]
            internal static string VersionString() { return Utf8(Native.plx_version_string()); }

            [MethodImpl(MethodImplOptions.NoInlining)]
            internal static uint Version() { return Native.plx_version(); }

            [MethodImpl(MethodImplOptions.NoInlining)]
            internal static bool AbiCompatible(int major, int minor) { return Native.plx_abi_compatible(major, minor) != 0; }

            [MethodImpl(MethodImplOptions.NoInlining)]
            internal static string StatusString(int status) { return Utf8(Native.plx_status_string(status)); }

            [MethodImpl(MethodImplOptions.NoInlining)]
            internal static string LastErrorMessage() { return Utf8(Native.plx_last_error_message()); }

            [MethodImpl(MethodImplOptions.NoInlining)]
            internal static Status LastErrorStatus() { return (Status)Native.plx_last_error_status(); }
        }

        // ---- Helpers for the rest of the binding -------------------------------------------------------

        /// <summary>Throws the exception of a failed status, with the thread's C message. Call right after the call.</summary>
        internal static void Check(int status)
        {
            if (status != 0) throw Failure(status, null);
        }

        /// <summary>The exception of a failed status: the C message read now, on this thread.</summary>
        internal static ParallaxException Failure(int status, Exception inner)
        {
            string message = Utf8(Native.plx_last_error_message());
            if (string.IsNullOrEmpty(message)) message = ParallaxException.NameOf(status);
            return ParallaxException.FromStatus(status, message, inner);
        }

        /// <summary>The thread's C message after a call that returned <paramref name="status"/> (null after success).</summary>
        internal static string MessageAfter(int status)
        {
            return status != 0 ? Utf8(Native.plx_last_error_message()) : null;
        }

        internal static unsafe string Utf8(IntPtr text)
        {
            if (text == IntPtr.Zero) return null;
            byte* p = (byte*)text;
            int n = 0;
            while (p[n] != 0) n++;
            return Encoding.UTF8.GetString(p, n);
        }

        internal static unsafe string Utf8(byte* text, int capacity)
        {
            int n = 0;
            while (n < capacity && text[n] != 0) n++;
            return Encoding.UTF8.GetString(text, n);
        }

        /// <summary>UTF-8 with a terminating NUL (null for null); refuses text holding a NUL.</summary>
        internal static byte[] Utf8Z(string text, string field)
        {
            if (text == null) return null;
            if (text.IndexOf('\0') >= 0)
                throw new InvalidArgumentException(field + " contains a NUL character, which would end the C string");
            byte[] bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
            Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
            return bytes;
        }
    }
}
