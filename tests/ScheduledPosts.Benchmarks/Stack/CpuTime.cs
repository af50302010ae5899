using System.Diagnostics;
using System.Globalization;
using Dapper;
using Npgsql;

namespace ScheduledPosts.Benchmarks.Stack;

/// <summary>
/// CPU time (user + system, from <c>/proc/&lt;pid&gt;/stat</c>) each part of the stack has used, per process. Unlike
/// wall-clock figures it hardly depends on what else the machine runs, so a difference of two snapshots says what a
/// piece of work cost and, summed over the parts, how many per second two idle cores could at best sustain.
/// PostgreSQL counts only the backends of the suite's database; RabbitMQ is the whole broker.
/// </summary>
public sealed class CpuTime
{
    private const double TicksPerSecond = 100; // USER_HZ: 100 on every Linux this runs on
    private readonly Dictionary<string, Dictionary<int, double>> _seconds;
    private readonly long _taken;

    private CpuTime(Dictionary<string, Dictionary<int, double>> seconds)
    {
        _seconds = seconds;
        _taken = Stopwatch.GetTimestamp();
    }

    public static async Task<CpuTime> TakeAsync(BenchStack stack)
    {
        var parts = stack.Suite.Services.Where(s => s.Pid is not null).ToDictionary(s => s.Name, s => new[] { s.Pid!.Value });
        await using (var connection = new NpgsqlConnection(stack.Postgres))
        {
            parts["postgresql"] = [.. await connection.QueryAsync<int>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")];
        }

        parts["rabbitmq"] = [.. Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), CultureInfo.InvariantCulture, out int pid) ? pid : 0)
            .Where(pid => pid > 0 && Command(pid) is "beam.smp")];
        return new CpuTime(parts.ToDictionary(p => p.Key, p => p.Value.ToDictionary(pid => pid, pid => Seconds(pid) ?? 0)));
    }

    /// <summary>CPU milliseconds per part from <paramref name="before"/> to this snapshot (a process new since then counts in full).</summary>
    public Dictionary<string, double> MillisecondsSince(CpuTime before)
        => _seconds.ToDictionary(p => p.Key, p => p.Value.Sum(kv => kv.Value - before._seconds.GetValueOrDefault(p.Key)?.GetValueOrDefault(kv.Key) ?? 0) * 1000);

    public TimeSpan ElapsedSince(CpuTime before) => Stopwatch.GetElapsedTime(before._taken, _taken);

    /// <summary>
    /// A line for the report: CPU ms per unit of work from <paramref name="from"/> to <paramref name="to"/>, gross (the
    /// services' idle use, a few ms per second each, is left in: it is small beside the work and hard to measure apart
    /// from the JIT's background recompilation after a warm-up).
    /// </summary>
    public static string Describe(CpuTime from, CpuTime to, int units, string unit)
    {
        var perUnit = to.MillisecondsSince(from).ToDictionary(p => p.Key, p => p.Value / units);
        double total = perUnit.Values.Sum();
        string parts = string.Join(", ", perUnit.Select(p => $"{p.Key} {p.Value.ToString("0.00", CultureInfo.InvariantCulture)}"));
        return string.Create(CultureInfo.InvariantCulture,
            $"CPU per {unit}, ms, until the events it emitted were handled ({to.ElapsedSince(from).TotalSeconds:0} s): {parts}; total {total:0.00} ms, " +
            $"so two otherwise idle cores could sustain at most ~{2000 / total:N0} {unit}s/s. PostgreSQL counts only this database's backends; RabbitMQ is the whole broker, shared with anything else using it.");
    }

    private static string? Command(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int open = stat.IndexOf('(', StringComparison.Ordinal), close = stat.LastIndexOf(')');
            return stat[(open + 1)..close];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static double? Seconds(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            // The fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }
}
