using System.Globalization;
using System.Text;

namespace ScheduledPosts.Benchmarks.Reporting;

public enum Verdict
{
    None,
    Met,
    Missed,
}

/// <summary>One line of the main table: a latency distribution (ms) and/or a throughput, and the issue's target for it.</summary>
public sealed record Row(string Scenario, string Measure, int N, Distribution? Latency, string Throughput, string Target = "", Verdict Verdict = Verdict.None);

/// <summary>A service's resident memory: idle, and the highest sample during the burst.</summary>
public sealed record MemoryRow(string Service, double IdleMb, double? BurstPeakMb, double HighWaterMb);

/// <summary>The same figure for us and for the peers; <paramref name="LowerIsBetter"/> says which way the ratio reads.</summary>
public sealed record PeerRow(string Scenario, string Measure, string Unit, bool LowerIsBetter, double? Ours, double? Hangfire, double? Quartz);

/// <summary>Everything one run measured, printed as Markdown tables (readable in a terminal, pasteable into the README).</summary>
public sealed class Report
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public List<Row> Rows { get; } = [];
    public List<MemoryRow> Memory { get; } = [];
    public List<PeerRow> Peers { get; } = [];
    public List<string> Notes { get; } = [];

    /// <summary>What went wrong: any error makes the program exit non-zero.</summary>
    public List<string> Errors { get; } = [];

    public static Verdict AtMost(double? value, double limit) => value is { } v ? (v <= limit ? Verdict.Met : Verdict.Missed) : Verdict.Missed;

    public static Verdict AtLeast(double? value, double limit) => value is { } v ? (v >= limit ? Verdict.Met : Verdict.Missed) : Verdict.Missed;

    public static Verdict Both(Verdict a, Verdict b) => a == Verdict.Missed || b == Verdict.Missed ? Verdict.Missed : Verdict.Met;

    public string Render()
    {
        var text = new StringBuilder();
        if (Rows.Count > 0)
        {
            text.AppendLine("| scenario | measure | N | p50 ms | p95 ms | p99 ms | max ms | throughput | target | met |");
            text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | :---: |");
            foreach (var row in Rows)
            {
                var l = row.Latency;
                text.AppendLine(Invariant, $"| {row.Scenario} | {row.Measure} | {row.N:N0} | {Ms(l?.P50)} | {Ms(l?.P95)} | {Ms(l?.P99)} | {Ms(l?.Max)} | {row.Throughput} | {row.Target} | {Mark(row.Verdict)} |");
            }
        }

        if (Memory.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("| service | idle RSS MB | peak RSS during burst MB | high-water mark MB | target: idle ≤ 150 MB |");
            text.AppendLine("| --- | ---: | ---: | ---: | :---: |");
            foreach (var m in Memory)
            {
                text.AppendLine(Invariant, $"| {m.Service} | {m.IdleMb:N0} | {(m.BurstPeakMb is { } peak ? peak.ToString("N0", Invariant) : "—")} | {m.HighWaterMb:N0} | {Mark(AtMost(m.IdleMb, 150))} |");
            }
        }

        if (Peers.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("| scenario | measure | ScheduledPosts | Hangfire | × | Quartz.NET | × |");
            text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
            foreach (var p in Peers)
            {
                text.AppendLine(Invariant, $"| {p.Scenario} | {p.Measure} | {Value(p.Ours, p.Unit)} | {Value(p.Hangfire, p.Unit)} | {Ratio(p, p.Hangfire)} | {Value(p.Quartz, p.Unit)} | {Ratio(p, p.Quartz)} |");
            }

            text.AppendLine();
            text.AppendLine("× = how many times better ScheduledPosts is on that line (lower latency, higher throughput); below 1 the peer is better.");
        }

        foreach (string note in Notes)
        {
            text.AppendLine().Append("- ").Append(note);
        }

        if (Notes.Count > 0)
        {
            text.AppendLine();
        }

        return text.ToString();
    }

    public static string Ms(double? ms) => ms switch
    {
        null => "—",
        < 10 => ms.Value.ToString("0.0", Invariant),
        _ => ms.Value.ToString("N0", Invariant),
    };

    public static string PerSecond(double? rate, string what) => rate is { } r ? $"{r.ToString(r < 100 ? "0.0" : "N0", Invariant)} {what}/s" : "—";

    private static string Value(double? value, string unit) => value is { } v ? (unit == "ms" ? Ms(v) : v.ToString(v < 100 ? "0.0" : "N0", Invariant)) + " " + unit : "—";

    private static string Ratio(PeerRow row, double? theirs)
    {
        if (row.Ours is not { } ours || theirs is not { } peer || ours <= 0 || peer <= 0)
        {
            return "—";
        }

        double ratio = row.LowerIsBetter ? peer / ours : ours / peer;
        return ratio.ToString(ratio < 10 ? "0.0" : "N0", Invariant) + "×";
    }

    private static string Mark(Verdict verdict) => verdict switch
    {
        Verdict.Met => "yes",
        Verdict.Missed => "**no**",
        _ => "",
    };
}
