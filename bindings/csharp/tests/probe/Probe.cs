// Loads libparallax through the binding in a fresh process and says what
// happened (the binding's tests run it with a chosen environment):
//   OK <version> <loaded path>
// or
//   <exception class> <status> <status name>
//   <message>
using System;
using Parallax;

static class Probe
{
    static int Main()
    {
        try
        {
            Library.EnsureLoaded();
            Console.WriteLine("OK " + Library.VersionString + " " + Library.LoadedPath());
            return 0;
        }
        catch (ParallaxException e)
        {
            Console.WriteLine(e.GetType().Name + " " + (int)e.Status + " " + e.StatusName);
            Console.WriteLine(e.Message);
            // A second use fails the same way, without trying again.
            try { Library.EnsureLoaded(); }
            catch (ParallaxException again) { Console.WriteLine(again.GetType() == e.GetType() ? "same" : "different"); }
            return 1;
        }
    }
}
