using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Npgsql;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Benchmarks.Stack;

/// <summary>
/// CPU time (user + system, from <c>/proc/&lt;pid&gt;/stat</c>) each part of the stack has used, per process. Unlike
/// wall-clock figures it hardly depends on what else the machine runs, so a difference of two snapshots says what a
/// piece of work cost and, summed over the parts, how many per second two idle cores could at best sustain.
/// PostgreSQL counts only the backends of the suite's database; RabbitMQ is the broker node the suite uses (its
/// <c>beam.smp</c>, found through the management API), not other brokers on the machine.
/// </summary>
public sealed class CpuTime
{
    private const double TicksPerSecond = 100; // USER_HZ: 100 on every Linux this runs on
    private readonly Dictionary<string, Dictionary<int, double>> _seconds;
    private readonly long _taken;

    private CpuTime(Dictionary<string, Dictionary<int, double>> seconds, long taken)
    {
        _seconds = seconds;
        _taken = taken;
    }

    public static async Task<CpuTime> TakeAsync(BenchStack stack)
    {
        var parts = stack.Suite.Services.Where(s => s.Pid is not null).ToDictionary(s => s.Name, s => new[] { s.Pid!.Value });
        await using (var connection = new NpgsqlConnection(stack.Postgres))
        {
            parts["postgresql"] = [.. await connection.QueryAsync<int>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")];
        }

        parts["rabbitmq"] = await BrokerPidsAsync(stack.Suite.RabbitMq);
        return new CpuTime(parts.ToDictionary(p => p.Key, p => p.Value.ToDictionary(pid => pid, pid => Seconds(pid) ?? 0)), Stopwatch.GetTimestamp());
    }

    /// <summary>This snapshot, plus every process seen in <paramref name="earlier"/> that has ended since, at its last figure.</summary>
    public CpuTime Including(CpuTime earlier)
    {
        var merged = _seconds.ToDictionary(p => p.Key, p => new Dictionary<int, double>(p.Value));
        foreach (var (part, pids) in earlier._seconds)
        {
            var into = merged.TryGetValue(part, out var known) ? known : merged[part] = [];
            foreach (var (pid, seconds) in pids)
            {
                into.TryAdd(pid, seconds);
            }
        }

        return new CpuTime(merged, _taken);
    }

    /// <summary>CPU milliseconds per part from <paramref name="before"/> to this snapshot (a process new since then counts in full).</summary>
    public Dictionary<string, double> MillisecondsSince(CpuTime before)
        => _seconds.ToDictionary(p => p.Key, p => p.Value.Sum(kv => kv.Value - before._seconds.GetValueOrDefault(p.Key)?.GetValueOrDefault(kv.Key) ?? 0) * 1000);

    public TimeSpan ElapsedSince(CpuTime before) => Stopwatch.GetElapsedTime(before._taken, _taken);

    /// <summary>
    /// CPU ms per unit of work from <paramref name="from"/> to <paramref name="to"/>, all parts together, and a line for
    /// the report with each part's share. Gross: the services' idle use, a few ms per second each, is left in (it is
    /// small beside the work and hard to measure apart from the JIT's background recompilation after a warm-up).
    /// </summary>
    public static (double Total, string Line) Describe(CpuTime from, CpuTime to, int units, string unit)
    {
        var perUnit = to.MillisecondsSince(from).ToDictionary(p => p.Key, p => p.Value / Math.Max(1, units));
        double total = perUnit.Values.Sum();
        string parts = string.Join(", ", perUnit.Select(p => $"{p.Key} {p.Value.ToString("0.00", CultureInfo.InvariantCulture)}"));
        return (total, string.Create(CultureInfo.InvariantCulture,
            $"CPU per {unit}, ms, until the events it emitted were handled ({to.ElapsedSince(from).TotalSeconds:0} s): {parts}; total {total:0.00} ms, " +
            $"so two otherwise idle cores could sustain at most ~{2000 / total:N0} {unit}s/s. PostgreSQL counts only this database's backends; RabbitMQ is the suite's broker node, shared with anything else using it."));
    }

    /// <summary>The operating-system process of each node of the broker (its management API knows), else every <c>beam.smp</c>.</summary>
    private static async Task<int[]> BrokerPidsAsync(RabbitMqServer rabbit)
    {
        try
        {
            using var http = Infrastructure.ManagementClient(rabbit);
            var nodes = await http.GetFromJsonAsync<JsonElement>("api/nodes");
            int[] pids = [.. nodes.EnumerateArray()
                .Select(n => n.TryGetProperty("os_pid", out var pid) && int.TryParse(pid.ToString(), CultureInfo.InvariantCulture, out int p) ? p : 0)
                .Where(p => p > 0 && File.Exists($"/proc/{p}/stat"))];
            if (pids.Length > 0)
            {
                return pids;
            }
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or InvalidOperationException or TaskCanceledException)
        {
            // A broker in a container, or no management API: fall back to every broker process here.
        }

        return [.. Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), CultureInfo.InvariantCulture, out int pid) ? pid : 0)
            .Where(pid => pid > 0 && Command(pid) is "beam.smp")];
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

    /// <summary>
    /// Snapshots every second while a piece of work runs, so a process that ends before the work does (a pooled
    /// PostgreSQL connection closed) still counts, up to its last snapshot.
    /// </summary>
    public sealed class Watch : IAsyncDisposable
    {
        private readonly BenchStack _stack;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private CpuTime _seen;

        private Watch(BenchStack stack, CpuTime from)
        {
            _stack = stack;
            From = from;
            _seen = from;
            _loop = LoopAsync();
        }

        public CpuTime From { get; }

        public static async Task<Watch> StartAsync(BenchStack stack) => new(stack, await CpuTime.TakeAsync(stack));

        /// <summary>The snapshot now, with every process seen since the start.</summary>
        public async Task<CpuTime> TakeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            return (await CpuTime.TakeAsync(_stack)).Including(_seen);
        }

        private async Task LoopAsync()
        {
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _stop.Token);
                    _seen = (await CpuTime.TakeAsync(_stack)).Including(_seen);
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _stop.Dispose();
        }
    }
}
