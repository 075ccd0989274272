// The C# quick start (bindings/csharp/README.md): stack a few frames, co-add
// two tiles into a mosaic, and hand Parallax a loop with a C# callback.
using System;
using System.Threading;
using Parallax;

static class Example
{
    static void Main()
    {
        using (var rt = new Runtime())
        {
            // 1. Stack ten 64 x 64 frames with sigma clipping; frame 2 has a cosmic ray at (10, 10).
            const int n = 10, h = 64, w = 64;
            var frames = new float[n][];
            var random = new Random(1);
            for (int f = 0; f < n; f++)
            {
                frames[f] = new float[h * w];
                for (int p = 0; p < h * w; p++) frames[f][p] = 100f + (float)random.NextDouble();
            }
            frames[2][10 * w + 10] = 60000f;
            StackResult stacked = rt.Stack(frames, h, w, new StackOptions { Reject = StackReject.SigmaClip, SigmaLow = 3, SigmaHigh = 3 });
            Console.WriteLine("stack: pixel (10, 10) = {0:F2} from {1} of {2} frames ({3} samples rejected in all)",
                              stacked.Image[10 * w + 10], stacked.Count[10 * w + 10], n, stacked.Rejected);

            // 2. Co-add two 32 x 40 tiles that overlap by 8 columns into a 32 x 72 mosaic.
            var left = new float[32 * 40];
            var right = new float[32 * 40];
            for (int p = 0; p < left.Length; p++) { left[p] = 1f; right[p] = 3f; }
            CoaddResult mosaic = rt.Coadd(new[]
            {
                CoaddInput.Affine(left, 32, 40, 1, 0, 0, 0, 1, 0),     // output (x, y) -> input (x, y)
                CoaddInput.Affine(right, 32, 40, 1, 0, -32, 0, 1, 0),  // output (x, y) -> input (x - 32, y)
            }, 32, 72);
            Console.WriteLine("coadd: {0} pixels covered; left {1}, overlap {2} (footprint {3}), right {4}",
                              mosaic.Covered, mosaic.Image[5], mosaic.Image[35], mosaic.Footprint[35], mosaic.Image[70]);

            // 3. A parallel loop over a million items with a C# callback on the runtime's threads.
            long sum = 0;
            RunReport report = rt.ParallelFor(0, 1000000, (begin, end, worker) =>
            {
                long local = 0;
                for (long i = begin; i < end; i++) local += i % 7;
                Interlocked.Add(ref sum, local);
            });
            Console.WriteLine("parallel_for: sum = {0} in {1} chunks on {2} workers", sum, report.Chunks, report.Workers);
        }
    }
}
