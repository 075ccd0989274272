// Mosaic co-addition (plx_coadd): N input images resampled onto one output
// grid and combined, as reproject's reproject_and_coadd with reproject_interp.
// Inputs are float[] arrays read in place (pinned for the call); mappings are
// affine or homography matrices, FITS WCS headers, or a coordinate-map
// delegate; finished output tiles can go to a tile delegate instead of memory.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Parallax.Interop;

namespace Parallax
{
    /// <summary>Writes the input pixel coordinates (xIn[k], yIn[k]) of the output pixels (xOut[k], yOut[k]) of
    /// input <paramref name="input"/>; NaN where there is no counterpart. Called from several threads at once;
    /// throwing fails the call (TaskFailedException).</summary>
    public delegate void CoordinateMap(long input, double[] xOut, double[] yOut, double[] xIn, double[] yIn);

    /// <summary>Receives a finished tile: output rows [row0, row0 + rows) x all columns, copies yours to keep
    /// (footprint null when not asked for). Called from one thread at a time, in no particular order.</summary>
    public delegate void CoaddTile(long row0, long rows, float[] image, float[] footprint);

    /// <summary>One input of a co-addition (plx_coadd_input_t): height x width floats (rows RowStride apart),
    /// NaN = missing, read in place; and how output pixels map to its pixels.</summary>
    public sealed class CoaddInput
    {
        public CoaddInput(float[] data, long height, long width)
        {
            if (data == null) throw new ArgumentNullException("data");
            Data = data;
            Height = height;
            Width = width;
            Mapping = CoaddMapping.Affine;
        }

        public float[] Data { get; private set; }
        public long Height { get; private set; }
        public long Width { get; private set; }
        /// <summary>Floats from a row to the next; 0 = Width.</summary>
        public long RowStride { get; set; }
        /// <summary>Per-pixel weights of the layout of Data (NaN counts as 0), or null.</summary>
        public float[] Weights { get; set; }
        /// <summary>Scalar weight, finite (default 1).</summary>
        public double? Weight { get; set; }
        /// <summary>Subtracted from every value (default 0).</summary>
        public double? Background { get; set; }
        public CoaddMapping Mapping { get; set; }
        /// <summary>Affine (6: xi = m0 x + m1 y + m2, yi = m3 x + m4 y + m5) or homography (9, row-major).</summary>
        public double[] Matrix { get; set; }
        /// <summary>Wcs: the input's FITS header (80-character cards, or one card per line).</summary>
        public string WcsHeader { get; set; }
        /// <summary>CoordinateMap: the host's function.</summary>
        public CoordinateMap Map { get; set; }

        /// <summary>An input mapped by an affine matrix (2 x 3, row-major) from output to input pixels.</summary>
        public static CoaddInput Affine(float[] data, long height, long width, params double[] matrix)
        {
            return new CoaddInput(data, height, width) { Mapping = CoaddMapping.Affine, Matrix = matrix };
        }

        /// <summary>An input mapped by a 3 x 3 homography (row-major) from output to input pixels.</summary>
        public static CoaddInput Homography(float[] data, long height, long width, params double[] matrix)
        {
            return new CoaddInput(data, height, width) { Mapping = CoaddMapping.Homography, Matrix = matrix };
        }

        /// <summary>An input with a FITS WCS header, mapped against CoaddOptions.OutputWcsHeader.</summary>
        public static CoaddInput Wcs(float[] data, long height, long width, string header)
        {
            return new CoaddInput(data, height, width) { Mapping = CoaddMapping.Wcs, WcsHeader = header };
        }

        /// <summary>An input mapped by the host's coordinate function.</summary>
        public static CoaddInput WithMap(float[] data, long height, long width, CoordinateMap map)
        {
            return new CoaddInput(data, height, width) { Mapping = CoaddMapping.CoordinateMap, Map = map };
        }
    }

    /// <summary>Options of a co-addition (plx_coadd_desc_t); null leaves the library's default.</summary>
    public sealed class CoaddOptions
    {
        /// <summary>The output grid's FITS header: required when an input has a Wcs mapping.</summary>
        public string OutputWcsHeader { get; set; }
        public Interpolation? Interpolation { get; set; }
        public CoaddCombine? Combine { get; set; }
        public DevicePreference? Device { get; set; }
        /// <summary>Instead of an image in memory: receives each finished output tile (the result's Image and
        /// Footprint are then null), so the output may be larger than memory.</summary>
        public CoaddTile Tile { get; set; }
        /// <summary>Fill the footprint (sum of weights per pixel; default true).</summary>
        public bool ReturnFootprint { get; set; }
        /// <summary>Progress (items = output rows), cancellation, workers, memory budget, name.</summary>
        public RunOptions Run { get; set; }

        public CoaddOptions() { ReturnFootprint = true; }
    }

    /// <summary>What <see cref="Runtime.Coadd"/> returns (plx_coadd_result_t): height x width arrays.</summary>
    public sealed class CoaddResult
    {
        /// <summary>The combined image (null with a Tile function).</summary>
        public float[] Image { get; internal set; }
        /// <summary>The sum of the weights per pixel (null with a Tile function or without ReturnFootprint).</summary>
        public float[] Footprint { get; internal set; }
        public long Covered { get; internal set; }
        public long Samples { get; internal set; }
        public long TileRows { get; internal set; }
        public long Tiles { get; internal set; }
        /// <summary>The device that resampled most rows; null for the CPU.</summary>
        public int? DeviceIndex { get; internal set; }
        public int Workers { get; internal set; }
        /// <summary>WCS inputs mapped natively (TAN, TAN-SIP).</summary>
        public int NativeWcs { get; internal set; }
        /// <summary>WCS inputs mapped through wcslib on a grid.</summary>
        public int GridWcs { get; internal set; }
        public double Seconds { get; internal set; }
        public RunReport Report { get; internal set; }
    }

    /// <summary>
    /// FITS headers as the library reads them: 80-character cards back to back (as cfitsio's fits_hdr2str
    /// writes them). Build one with Add(...), or normalize text with one card per line with <see cref="Cards"/>.
    /// </summary>
    public sealed class FitsHeader
    {
        const int Card = 80;
        readonly StringBuilder cards = new StringBuilder();

        /// <summary>A card with a string value ('quoted').</summary>
        public FitsHeader Add(string key, string value)
        {
            return Append(key, "'" + (value ?? "").Replace("'", "''").PadRight(8) + "'");
        }

        /// <summary>A card with a real value (full precision).</summary>
        public FitsHeader Add(string key, double value)
        {
            string text = value.ToString("R", CultureInfo.InvariantCulture).ToUpperInvariant();
            if (text.IndexOf('.') < 0 && text.IndexOf('E') < 0 && !double.IsNaN(value) && !double.IsInfinity(value))
                text += ".0";
            return Append(key, text);
        }

        /// <summary>A card with an integer value.</summary>
        public FitsHeader Add(string key, long value)
        {
            return Append(key, value.ToString(CultureInfo.InvariantCulture));
        }

        FitsHeader Append(string key, string value)
        {
            if (string.IsNullOrEmpty(key) || key.Length > 8)
                throw new InvalidArgumentException("a FITS keyword has 1 to 8 characters, got '" + key + "'");
            string card = key.ToUpperInvariant().PadRight(8) + "= " + value.PadLeft(20);
            if (card.Length > Card) throw new InvalidArgumentException("the card for " + key + " exceeds 80 characters");
            cards.Append(card.PadRight(Card));
            return this;
        }

        /// <summary>The cards, then END.</summary>
        public override string ToString() { return cards.ToString() + "END".PadRight(Card); }

        /// <summary>
        /// <paramref name="text"/> as cards: text with line breaks is read as one card per line (padded to 80
        /// characters, blank lines dropped); text without is taken as cards already. ASCII only.
        /// </summary>
        public static string Cards(string text, string where = "header")
        {
            if (text == null) return null;
            foreach (char c in text)
                if (c > 127) throw new InvalidArgumentException(where + ": a FITS header is ASCII text; this one holds '" + c + "'");
            if (text.IndexOf('\n') < 0 && text.IndexOf('\r') < 0) return text;
            var sb = new StringBuilder();
            string[] lines = text.Replace("\r\n", "\n").Replace('\r', '\n').Split('\n');
            for (int i = 0; i < lines.Length; i++)
            {
                string line = lines[i].TrimEnd();
                if (line.Length > Card)
                    throw new InvalidArgumentException(string.Format(
                        "{0}: line {1} has {2} characters; a FITS card has at most 80", where, i + 1, line.Length));
                if (line.Trim().Length > 0) sb.Append(line.PadRight(Card));
            }
            return sb.ToString();
        }
    }

    internal sealed unsafe class CoaddRun : Run
    {
        internal static readonly plx_coordinate_map_fn MapFn = OnMap;
        internal static readonly IntPtr MapPtr = Marshal.GetFunctionPointerForDelegate(MapFn);
        internal static readonly plx_coadd_tile_fn TileFn = OnTile;
        internal static readonly IntPtr TilePtr = Marshal.GetFunctionPointerForDelegate(TileFn);

        internal readonly plx_coadd_desc_t* Desc;
        readonly CoaddInput[] inputs;
        readonly CoaddTile tile;
        readonly long width;

        internal CoaddRun(Runtime runtime, IList<CoaddInput> list, long height, long width, CoaddOptions o)
            : base(runtime, "coadd", o.Run)
        {
            try
            {
                inputs = new CoaddInput[list.Count];
                list.CopyTo(inputs, 0);
                this.width = width;
                tile = o.Tile;
                int n = inputs.Length;
                var c = (plx_coadd_input_t*)Pins.Alloc((long)Math.Max(n, 1) * sizeof(plx_coadd_input_t));
                for (int i = 0; i < n; i++) Fill(&c[i], i);
                Desc = (plx_coadd_desc_t*)Pins.Alloc(sizeof(plx_coadd_desc_t));
                Library.Check(Native.plx_coadd_desc_init(Desc, StructSizes.Of<plx_coadd_desc_t>()));
                Desc->inputs = (IntPtr)c;
                Desc->count = n;
                Desc->height = height;
                Desc->width = width;
                Desc->output_wcs_header = Pins.Text(FitsHeader.Cards(o.OutputWcsHeader, "OutputWcsHeader"), "OutputWcsHeader");
                if (o.Interpolation.HasValue) Desc->interpolation = (int)o.Interpolation.Value;
                if (o.Combine.HasValue) Desc->combine = (int)o.Combine.Value;
                if (o.Device.HasValue) Desc->device = (int)o.Device.Value;
                if (tile != null)
                {
                    Desc->tile = TilePtr;
                    Desc->tile_user_data = Self;
                }
                Desc->run_options = (IntPtr)Options;
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        void Fill(plx_coadd_input_t* s, int i)
        {
            CoaddInput input = inputs[i];
            string where = "inputs[" + i + "]";
            if (input == null) throw new ArgumentNullException("inputs", where + " is null");
            Library.Check(Native.plx_coadd_input_init(s, StructSizes.Of<plx_coadd_input_t>()));
            long stride = input.RowStride > 0 ? input.RowStride : input.Width;
            long need = input.Height > 0 && input.Width > 0 ? (input.Height - 1) * stride + input.Width : 0;
            if (input.Data.LongLength < need)
                throw new InvalidArgumentException(string.Format("{0}.Data holds {1} floats; {2} x {3} pixels with row " +
                                                                 "stride {4} need {5}", where, input.Data.LongLength,
                                                                 input.Height, input.Width, stride, need));
            if (input.Weights != null && input.Weights.LongLength < need)
                throw new InvalidArgumentException(string.Format("{0}.Weights holds {1} floats; the layout of Data needs {2}",
                                                                 where, input.Weights.LongLength, need));
            s->data = Pins.Pin(input.Data);
            s->height = input.Height;
            s->width = input.Width;
            s->row_stride = input.RowStride;
            s->weights = Pins.Pin(input.Weights);
            if (input.Weight.HasValue) s->weight = input.Weight.Value;
            if (input.Background.HasValue) s->background = input.Background.Value;
            s->mapping = (int)input.Mapping;
            if (input.Matrix != null)
            {
                int expected = input.Mapping == CoaddMapping.Homography ? 9 : 6;
                if (input.Matrix.Length != expected)
                    throw new InvalidArgumentException(string.Format("{0}.Matrix has {1} values; a{2} mapping takes {3}",
                                                                     where, input.Matrix.Length,
                                                                     expected == 9 ? " homography" : "n affine", expected));
                for (int k = 0; k < input.Matrix.Length; k++) s->matrix[k] = input.Matrix[k];
            }
            s->wcs_header = Pins.Text(FitsHeader.Cards(input.WcsHeader, where + ".WcsHeader"), where + ".WcsHeader");
            if (input.Map != null)
            {
                s->map = MapPtr;
                s->map_user_data = Self;
            }
        }

        static int OnMap(IntPtr userData, long input, long n, IntPtr xOut, IntPtr yOut, IntPtr xIn, IntPtr yIn)
        {
            try
            {
                var run = (CoaddRun)From(userData);
                if (run.Failed) return 1;
                run.Enter();
                try
                {
                    if (n <= 0) return 0;
                    var xo = new double[n];
                    var yo = new double[n];
                    var xi = new double[n];
                    var yi = new double[n];
                    Marshal.Copy(xOut, xo, 0, (int)n);
                    Marshal.Copy(yOut, yo, 0, (int)n);
                    for (long k = 0; k < n; k++) xi[k] = yi[k] = double.NaN;
                    run.inputs[input].Map(input, xo, yo, xi, yi);
                    Marshal.Copy(xi, 0, xIn, (int)n);
                    Marshal.Copy(yi, 0, yIn, (int)n);
                    return 0;
                }
                catch (Exception e)
                {
                    run.Record(input, "the coordinate map of inputs[" + input + "]", e);
                    return -1;
                }
                finally { run.Leave(); }
            }
            catch (Exception) { return -1; }
        }

        static int OnTile(IntPtr userData, long row0, long rows, IntPtr image, IntPtr footprint)
        {
            try
            {
                var run = (CoaddRun)From(userData);
                if (run.Failed) return 1;
                run.Enter();
                try
                {
                    int count = (int)Math.Max(0, checked(rows * run.width));
                    var pixels = new float[count];
                    float[] weights = footprint != IntPtr.Zero ? new float[count] : null;
                    if (count > 0 && image != IntPtr.Zero) Marshal.Copy(image, pixels, 0, count);
                    if (count > 0 && weights != null) Marshal.Copy(footprint, weights, 0, count);
                    run.tile(row0, rows, pixels, weights);
                    return 0;
                }
                catch (Exception e)
                {
                    run.Record(long.MaxValue / 2 + row0, "the tile function (rows [" + row0 + ", " + (row0 + rows) + "))", e);
                    return -1;
                }
                finally { run.Leave(); }
            }
            catch (Exception) { return -1; }
        }
    }

    public sealed partial class Runtime
    {
        /// <summary>
        /// Resamples <paramref name="inputs"/> onto a <paramref name="height"/> x <paramref name="width"/> output
        /// grid and combines them (plx_coadd_input_init, plx_coadd_desc_init, plx_coadd_result_init, plx_coadd), as
        /// reproject_and_coadd with reproject_interp does: the same bits for any workers and tiling.
        /// </summary>
        /// <exception cref="InvalidArgumentException">a bad input or option; the message names it and the input index.</exception>
        /// <exception cref="UnsupportedException">celestial frames without a rotation between them.</exception>
        /// <exception cref="TaskFailedException">a coordinate map or the tile function threw (InnerException).</exception>
        public unsafe CoaddResult Coadd(IList<CoaddInput> inputs, long height, long width, CoaddOptions options = null)
        {
            if (inputs == null) throw new ArgumentNullException("inputs");
            options = options ?? new CoaddOptions();
            Guard("Runtime.Coadd");
            using (var run = new CoaddRun(this, inputs, height, width, options))
            {
                var r = new CoaddResult();
                if (options.Tile == null && height > 0 && width > 0)
                {
                    long pixels = checked(height * width);
                    r.Image = new float[pixels];
                    r.Footprint = options.ReturnFootprint ? new float[pixels] : null;
                }
                plx_coadd_result_t res;
                Library.Check(Native.plx_coadd_result_init(&res, StructSizes.Of<plx_coadd_result_t>()));
                res.image = run.Pins.Pin(r.Image);
                res.footprint = run.Pins.Pin(r.Footprint);
                int status = Native.plx_coadd(Handle, run.Desc, &res);
                run.Finish(status);
                r.Covered = res.covered;
                r.Samples = res.samples;
                r.TileRows = res.tile_rows;
                r.Tiles = res.tiles;
                r.DeviceIndex = res.device_index < 0 ? null : (int?)res.device_index;
                r.Workers = res.workers;
                r.NativeWcs = res.native_wcs;
                r.GridWcs = res.grid_wcs;
                r.Seconds = res.seconds;
                r.Report = run.Report();
                return r;
            }
        }
    }
}
