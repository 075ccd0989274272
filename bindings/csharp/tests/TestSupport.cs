// Shared by the C# binding's NUnit suite: the repository's paths, machine
// profiles, the process's RSS, a fresh-process probe for library loading.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading;
using NUnit.Framework;
using Parallax;

namespace Parallax.Tests
{
    /// <summary>
    /// After the last test: handles the tests left to finalizers are released now, while mono is
    /// whole, not by the finalizer thread during mono's shutdown (a runtime destroyed then could
    /// call back into managed code that is being torn down).
    /// </summary>
    [SetUpFixture]
    public class ReleaseLeftoversAfterAllTests
    {
        [TearDown]
        public void CollectAndFinalize() { Env.Collect(); }
    }

    static class Env
    {
        static string source;

        /// <summary>The repository: $PARALLAX_SOURCE_DIR (set by ctest), else a parent of the test assembly.</summary>
        public static string SourceDir
        {
            get
            {
                if (source != null) return source;
                string dir = Environment.GetEnvironmentVariable("PARALLAX_SOURCE_DIR");
                if (string.IsNullOrEmpty(dir))
                {
                    dir = Path.GetDirectoryName(typeof(Env).Assembly.Location);
                    while (dir != null && !File.Exists(Path.Combine(dir, "include", "parallax.h")))
                        dir = Path.GetDirectoryName(dir);
                }
                Assert.IsNotNull(dir, "set PARALLAX_SOURCE_DIR to the repository");
                return source = dir;
            }
        }

        /// <summary>profiles/NAME.json.</summary>
        public static string Profile(string name)
        {
            string path = Path.Combine(SourceDir, "profiles", name + ".json");
            Assert.IsTrue(File.Exists(path), path);
            return path;
        }

        /// <summary>A runtime on the 2-CPU profile (the CI machine's size).</summary>
        public static Runtime Tiny(RuntimeOptions options = null)
        {
            options = options ?? new RuntimeOptions();
            options.MachineProfile = options.MachineProfile ?? Profile("tiny-2c-4g");
            return new Runtime(options);
        }

        public static long RssBytes()
        {
            foreach (string line in File.ReadAllLines("/proc/self/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line.Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
            throw new InvalidOperationException("no VmRSS");
        }

        public static void Collect()
        {
            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }

        /// <summary>A fresh directory, removed by <see cref="RemoveDir"/>.</summary>
        public static string TempDir(string name)
        {
            string dir = Path.Combine(Path.GetTempPath(), "plx-cs-" + name + "-" + Process.GetCurrentProcess().Id);
            Directory.CreateDirectory(dir);
            return dir;
        }

        public static void RemoveDir(string dir)
        {
            try { Directory.Delete(dir, true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }

        /// <summary>The directory of the test assembly (the build's csharp/ folder).</summary>
        public static string OutDir { get { return Path.GetDirectoryName(typeof(Env).Assembly.Location); } }

        /// <summary>Runs a program (path, args) with extra environment (a null value unsets); its stdout, exit code.</summary>
        public static string Run(string file, string args, IDictionary<string, string> env, out int exitCode,
                                 int timeoutMs = 60000)
        {
            var info = new ProcessStartInfo(file, args)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = OutDir,
            };
            if (env != null)
                foreach (KeyValuePair<string, string> kv in env)
                {
                    if (kv.Value == null) info.EnvironmentVariables.Remove(kv.Key);
                    else info.EnvironmentVariables[kv.Key] = kv.Value;
                }
            using (Process p = Process.Start(info))
            {
                string err = null;
                var errReader = new Thread(() => { err = p.StandardError.ReadToEnd(); });
                errReader.Start();
                string output = p.StandardOutput.ReadToEnd();
                Assert.IsTrue(p.WaitForExit(timeoutMs), file + " did not end");
                errReader.Join();
                exitCode = p.ExitCode;
                return output + err;
            }
        }

        /// <summary>Runs Probe.exe under mono in a fresh process (the library loads once per process).</summary>
        public static string Probe(IDictionary<string, string> env)
        {
            string probe = Path.Combine(OutDir, "Probe.exe");
            Assert.IsTrue(File.Exists(probe), probe + " (built with the suite)");
            string mono = Environment.GetEnvironmentVariable("PLX_MONO");
            int code;
            return Run(string.IsNullOrEmpty(mono) ? "mono" : mono, "\"" + probe + "\"", env, out code);
        }

        /// <summary>Calls <paramref name="action"/> on <paramref name="threads"/> threads started together.</summary>
        public static void Parallel(int threads, Action<int> action)
        {
            var errors = new List<Exception>();
            var start = new Barrier(threads);
            var list = new List<Thread>();
            for (int i = 0; i < threads; i++)
            {
                int index = i;
                var t = new Thread(() =>
                {
                    try
                    {
                        start.SignalAndWait();
                        action(index);
                    }
                    catch (Exception e)
                    {
                        lock (errors) errors.Add(e);
                    }
                });
                t.Start();
                list.Add(t);
            }
            foreach (Thread t in list) Assert.IsTrue(t.Join(120000), "a thread did not end (deadlock?)");
            if (errors.Count > 0) throw new AggregateException(errors);
        }
    }
}
