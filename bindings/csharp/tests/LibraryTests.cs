// Versions, the compatibility check at load, status names, the thread's last
// error, struct layouts against src/api/struct_io.hpp, and how the library is
// found (in fresh processes: it loads once per process).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using System.Threading;
using NUnit.Framework;
using Parallax;
using Parallax.Interop;

namespace Parallax.Tests
{
    [TestFixture]
    public class LibraryTests
    {
        [Test]
        public void VersionMatchesTheHeader()
        {
            string header = File.ReadAllText(Path.Combine(Env.SourceDir, "include", "parallax.h"));
            string text = Regex.Match(header, "#define PLX_VERSION_STRING \"([^\"]+)\"").Groups[1].Value;
            int major = int.Parse(Regex.Match(header, @"#define PLX_VERSION_MAJOR (\d+)").Groups[1].Value);
            int minor = int.Parse(Regex.Match(header, @"#define PLX_VERSION_MINOR (\d+)").Groups[1].Value);
            Assert.AreEqual(text, Library.VersionString);
            Assert.AreEqual(text, Library.Version.ToString(3));
            Assert.AreEqual((uint)(Library.Version.Major * 10000 + Library.Version.Minor * 100 + Library.Version.Build),
                            Library.VersionNumber);
            Assert.AreEqual(major, Library.HeaderMajor, "the binding mirrors this header");
            Assert.AreEqual(minor, Library.HeaderMinor);
            Assert.AreEqual(Library.HeaderMajor, Library.Version.Major);
        }

        [Test]
        public void AbiCompatible()
        {
            Assert.IsTrue(Library.AbiCompatible(0, 0));
            Assert.IsTrue(Library.AbiCompatible(0, 1));
            Assert.IsFalse(Library.AbiCompatible(0, Library.Version.Minor + 1));
            Assert.IsFalse(Library.AbiCompatible(1, 0));
            Assert.IsFalse(Library.AbiCompatible(0, -1));
        }

        [Test]
        public void TheVersionCheckRefusesAnotherMajorOrAnOlderMinor()
        {
            Assert.IsNull(Library.CheckVersion(100, true, "0.1.0", "lib"));
            Assert.IsNull(Library.CheckVersion(203, true, "0.2.3", "lib"));
            string refusal = Library.CheckVersion(10203, false, "1.2.3", "/x/libparallax.so.0");
            StringAssert.Contains("/x/libparallax.so.0 is libparallax 1.2.3", refusal);
            StringAssert.Contains("written for header 0.1", refusal);
            StringAssert.Contains("same major version", refusal);
            Assert.IsNotNull(Library.CheckVersion(10000, true, "1.0.0", "lib"), "a major that differs, even if it says compatible");
            Assert.IsNotNull(Library.CheckVersion(0, false, "0.0.0", "lib"), "too old a minor");
        }

        [Test]
        public void StatusStringsAndExceptionClasses()
        {
            string[] names = { "PLX_OK", "PLX_ERR_INVALID_ARGUMENT", "PLX_ERR_OUT_OF_MEMORY", "PLX_ERR_DEVICE",
                               "PLX_ERR_NO_DEVICE", "PLX_ERR_CANCELLED", "PLX_ERR_TASK_FAILED", "PLX_ERR_UNSUPPORTED",
                               "PLX_ERR_VERSION", "PLX_ERR_IO", "PLX_ERR_INTERNAL", "PLX_ERR_BUFFER_TOO_SMALL",
                               "PLX_ERR_TIMEOUT" };
            for (int code = 0; code < names.Length; code++)
            {
                Assert.AreEqual(names[code], Library.StatusString(code));
                Assert.AreEqual(names[code], new ParallaxException((Status)code, "m").StatusName);
            }
            foreach (int unknown in new[] { -1, 13, 999, 1000 })
            {
                Assert.AreEqual("PLX_ERR_UNKNOWN", Library.StatusString(unknown));
                ParallaxException e = ParallaxException.FromStatus(unknown, "m");
                Assert.AreEqual(typeof(ParallaxException), e.GetType());
                Assert.AreEqual(unknown, (int)e.Status);
            }
            var classes = new Dictionary<Status, Type>
            {
                { Status.InvalidArgument, typeof(InvalidArgumentException) },
                { Status.OutOfMemory, typeof(ParallaxOutOfMemoryException) },
                { Status.Device, typeof(DeviceException) },
                { Status.NoDevice, typeof(NoDeviceException) },
                { Status.Cancelled, typeof(CancelledException) },
                { Status.TaskFailed, typeof(TaskFailedException) },
                { Status.Unsupported, typeof(UnsupportedException) },
                { Status.Version, typeof(VersionException) },
                { Status.Io, typeof(IoException) },
                { Status.Internal, typeof(InternalException) },
                { Status.BufferTooSmall, typeof(BufferTooSmallException) },
                { Status.Timeout, typeof(JobTimeoutException) },
            };
            var inner = new InvalidOperationException("cause");
            foreach (KeyValuePair<Status, Type> kv in classes)
            {
                ParallaxException e = ParallaxException.FromStatus((int)kv.Key, "what happened", inner);
                Assert.AreEqual(kv.Value, e.GetType());
                Assert.AreEqual(kv.Key, e.Status);
                Assert.AreEqual("what happened", e.Message);
                Assert.AreSame(inner, e.InnerException);
                Assert.IsInstanceOf<ParallaxException>(e);
            }
        }

        [Test]
        public void LastErrorIsPerThreadAndMatchesTheException()
        {
            using (Runtime rt = Env.Tiny())
            {
                var e = Assert.Throws<InvalidArgumentException>(() => rt.CreatePlan(new Workload(0, 1000)));
                Assert.AreEqual(Status.InvalidArgument, Library.LastErrorStatus);
                Assert.AreEqual(e.Message, Library.LastErrorMessage);
                StringAssert.Contains("workload.items", e.Message);
                string other = null;
                Status otherStatus = Status.Internal;
                var t = new Thread(() =>
                {
                    other = Library.LastErrorMessage;
                    otherStatus = Library.LastErrorStatus;
                });
                t.Start();
                t.Join();
                Assert.AreEqual("", other, "another thread has no failure");
                Assert.AreEqual(Status.Ok, otherStatus);
            }
        }

        [Test]
        public void StructSizesEqualThePinnedSizes()
        {
            // The first-release sizes in src/api/struct_io.hpp, read from the source itself.
            string io = File.ReadAllText(Path.Combine(Env.SourceDir, "src", "api", "struct_io.hpp"));
            var pinned = new Dictionary<string, int>();
            foreach (Match m in Regex.Matches(io, @"PLX_FIRST_RELEASE_SIZE\((plx_\w+), (\d+)\);"))
                pinned[m.Groups[1].Value] = int.Parse(m.Groups[2].Value);
            Assert.AreEqual(22, pinned.Count, "struct_io.hpp pins 22 structs");
            Assert.AreEqual(pinned.Count, StructSizes.FirstRelease.Length, "the binding lists every pinned struct");
            foreach (KeyValuePair<Type, int> kv in StructSizes.FirstRelease)
            {
                Assert.IsTrue(pinned.ContainsKey(kv.Key.Name), kv.Key.Name + " is pinned in struct_io.hpp");
                Assert.AreEqual(pinned[kv.Key.Name], kv.Value, kv.Key.Name);
                int now = kv.Value;
                foreach (KeyValuePair<Type, int> grown in StructSizes.Grown)
                    if (grown.Key == kv.Key) now = grown.Value;
                Assert.AreEqual(now, Marshal.SizeOf(kv.Key), "Marshal.SizeOf(" + kv.Key.Name + ")");
            }
            foreach (KeyValuePair<Type, int> kv in StructSizes.Other)
                Assert.AreEqual(kv.Value, Marshal.SizeOf(kv.Key), "Marshal.SizeOf(" + kv.Key.Name + ")");
        }

        [Test]
        public void FieldOffsetsFollowTheCLayout()
        {
            Assert.AreEqual(40, (int)Marshal.OffsetOf(typeof(plx_runtime_options_t), "log_callback"));
            Assert.AreEqual(88, (int)Marshal.OffsetOf(typeof(plx_runtime_options_t), "fault_injection"));
            Assert.AreEqual(112, (int)Marshal.OffsetOf(typeof(plx_runtime_options_t), "device_replicas"));
            Assert.AreEqual(576, (int)Marshal.OffsetOf(typeof(plx_device_info_t), "measured_gbps"));
            Assert.AreEqual(112, (int)Marshal.OffsetOf(typeof(plx_run_options_t), "jitter_seed"));
            Assert.AreEqual(72, (int)Marshal.OffsetOf(typeof(plx_coadd_input_t), "matrix"));
            Assert.AreEqual(144, (int)Marshal.OffsetOf(typeof(plx_coadd_input_t), "wcs_header"));
            Assert.AreEqual(160, (int)Marshal.OffsetOf(typeof(plx_stack_desc_t), "run_options"));
            Assert.AreEqual(144, (int)Marshal.OffsetOf(typeof(plx_stack_result_t), "simd_target"));
            Assert.AreEqual(40, (int)Marshal.OffsetOf(typeof(plx_task_context_t), "message"));
            Assert.AreEqual(80, (int)Marshal.OffsetOf(typeof(plx_rows_desc_t), "cpu_user_data"));
        }

        [Test]
        public unsafe void InitFunctionsFillTheLibraryDefaults()
        {
            plx_runtime_options_t ro;
            Assert.AreEqual(0, Native.plx_runtime_options_init(&ro, StructSizes.Of<plx_runtime_options_t>()));
            Assert.AreEqual(0.75, ro.ram_fraction);
            Assert.AreEqual(0.5, ro.vram_fraction);
            Assert.AreEqual((int)LogLevel.Info, ro.log_level);
            plx_workload_t w;
            Assert.AreEqual(0, Native.plx_workload_init(&w, StructSizes.Of<plx_workload_t>()));
            Assert.AreEqual(1.0, w.working_set_factor);
            plx_run_options_t run;
            Assert.AreEqual(0, Native.plx_run_options_init(&run, StructSizes.Of<plx_run_options_t>()));
            Assert.AreEqual(200, run.progress_interval_ms);
            Assert.AreEqual(3, run.max_attempts);
            plx_reduce_desc_t rd;
            Assert.AreEqual(0, Native.plx_reduce_desc_init(&rd, StructSizes.Of<plx_reduce_desc_t>()));
            Assert.AreEqual(0, rd.op);
            plx_rows_desc_t rows;
            Assert.AreEqual(0, Native.plx_rows_desc_init(&rows, StructSizes.Of<plx_rows_desc_t>()));
            Assert.AreEqual(1, rows.work_items_per_row);
            plx_stack_desc_t sd;
            Assert.AreEqual(0, Native.plx_stack_desc_init(&sd, StructSizes.Of<plx_stack_desc_t>()));
            Assert.AreEqual(3.0, sd.sigma_low);
            Assert.AreEqual(5, sd.max_iters);
            Assert.AreEqual(1, sd.channels);
            plx_stack_result_t sr;
            Assert.AreEqual(0, Native.plx_stack_result_init(&sr, StructSizes.Of<plx_stack_result_t>()));
            Assert.AreEqual(IntPtr.Zero, sr.image);
            plx_coadd_input_t ci;
            Assert.AreEqual(0, Native.plx_coadd_input_init(&ci, StructSizes.Of<plx_coadd_input_t>()));
            Assert.AreEqual(1.0, ci.weight);
            Assert.AreEqual(1.0, ci.matrix[0]);
            Assert.AreEqual(1.0, ci.matrix[4]);
            plx_coadd_desc_t cd;
            Assert.AreEqual(0, Native.plx_coadd_desc_init(&cd, StructSizes.Of<plx_coadd_desc_t>()));
            Assert.AreEqual((int)Interpolation.Bilinear, cd.interpolation);
            plx_coadd_result_t cr;
            Assert.AreEqual(0, Native.plx_coadd_result_init(&cr, StructSizes.Of<plx_coadd_result_t>()));

            // A struct_size smaller than the first release's: PLX_ERR_VERSION, with a message naming the struct.
            plx_coadd_desc_t small;
            Assert.AreEqual((int)Status.Version, Native.plx_coadd_desc_init(&small, (UIntPtr)16u));
            StringAssert.Contains("plx_coadd_desc_t", Library.LastErrorMessage);
            Assert.AreEqual((int)Status.InvalidArgument, Native.plx_stack_desc_init(null, StructSizes.Of<plx_stack_desc_t>()));
        }

        // ---- Finding the library (fresh processes) -----------------------------------------------------

        [Test]
        public void AMissingLibrarySaysWhatWasTriedAndWhatToDo()
        {
            string output = Env.Probe(new Dictionary<string, string> { { "PARALLAX_LIBRARY", "/nonexistent/libparallax.so.0" } });
            StringAssert.StartsWith("LibraryNotFoundException 9 PLX_ERR_IO\n", output);
            StringAssert.Contains("/nonexistent/libparallax.so.0", output);
            StringAssert.Contains("PARALLAX_LIBRARY", output);
            StringAssert.Contains("same", output);
        }

        [Test]
        public void WithoutTheLibraryOnTheSearchPathTheMessageNamesLdLibraryPath()
        {
            int code;
            string cache = Env.Run("/bin/sh", "-c \"/sbin/ldconfig -p 2>/dev/null | grep -c libparallax.so.0\"", null, out code);
            if (cache.Trim() != "0" && cache.Trim() != "") Assert.Ignore("libparallax.so.0 is installed system-wide");
            string output = Env.Probe(new Dictionary<string, string>
            {
                { "PARALLAX_LIBRARY", null }, { "LD_LIBRARY_PATH", "/nonexistent" },
            });
            StringAssert.StartsWith("LibraryNotFoundException 9 PLX_ERR_IO\n", output);
            StringAssert.Contains("LD_LIBRARY_PATH", output);
            StringAssert.Contains("libparallax.so.0", output);
        }

        [Test]
        public void TheEnvironmentVariableNamesTheLibraryFile()
        {
            string real = Library.LoadedPath();
            Assert.IsNotNull(real, "libparallax is mapped in this process");
            string dir = Env.TempDir("copy");
            try
            {
                string copy = Path.Combine(dir, "libparallax.so.0");
                File.Copy(real, copy, true);
                string output = Env.Probe(new Dictionary<string, string> { { "PARALLAX_LIBRARY", copy } });
                Assert.AreEqual("OK " + Library.VersionString + " " + copy, output.Trim());
            }
            finally { Env.RemoveDir(dir); }
        }

        [Test]
        public void AnIncompatibleLibraryIsRefusedWithAClearMessage()
        {
            string dir = Env.TempDir("fake");
            try
            {
                string source = Path.Combine(dir, "fake.c"), fake = Path.Combine(dir, "libparallax.so.0");
                File.WriteAllText(source, "unsigned plx_version(void) { return 10203; }\n" +
                                          "const char* plx_version_string(void) { return \"1.2.3\"; }\n" +
                                          "int plx_abi_compatible(int major, int minor) { return 0; }\n");
                int code;
                string cc = Env.Run("cc", string.Format("-shared -fPIC -Wl,-soname,libparallax.so.0 \"{0}\" -o \"{1}\"",
                                                        source, fake), null, out code);
                Assert.AreEqual(0, code, cc);
                string output = Env.Probe(new Dictionary<string, string> { { "PARALLAX_LIBRARY", fake } });
                StringAssert.StartsWith("LibraryVersionException 8 PLX_ERR_VERSION\n", output);
                StringAssert.Contains("1.2.3", output);
                StringAssert.Contains("header 0.1", output);
                StringAssert.Contains(fake, output);
                StringAssert.Contains("same", output);

                // Without the SONAME, mono would bind whatever libparallax.so.0 it finds: refused as well.
                string nameless = Path.Combine(dir, "nameless.so");
                cc = Env.Run("cc", string.Format("-shared -fPIC \"{0}\" -o \"{1}\"", source, nameless), null, out code);
                Assert.AreEqual(0, code, cc);
                output = Env.Probe(new Dictionary<string, string> { { "PARALLAX_LIBRARY", nameless } });
                StringAssert.StartsWith("LibraryNotFoundException 9 PLX_ERR_IO\n", output);
                StringAssert.Contains("SONAME", output);
            }
            finally { Env.RemoveDir(dir); }
        }
    }
}
