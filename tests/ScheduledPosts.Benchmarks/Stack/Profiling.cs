using System.Diagnostics;
using System.Text;
using Dapper;
using Npgsql;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Benchmarks.Stack;

/// <summary>
/// <c>--profile</c>: what a missed target needs to be explained. During the burst, a CPU-sampling trace of the
/// scheduling, publisher and webhooks processes (<c>dotnet-trace</c>, a .NET global tool: <c>dotnet tool install -g
/// dotnet-trace</c>), and afterwards what the database did per burst target: transactions and rows written per table.
/// </summary>
public sealed class Profiling : IAsyncDisposable
{
    private static readonly string[] Traced = ["scheduling", "publisher", "webhooks"];
    private readonly List<Process> _traces = [];

    public static string Directory { get; } = Path.Combine(Path.GetTempPath(), $"sp-bench-profile-{DateTime.UtcNow:yyyyMMdd-HHmmss}");

    /// <summary>Starts a trace of each service for <paramref name="duration"/>; does nothing (with a warning) without dotnet-trace.</summary>
    public static Profiling Start(Suite suite, TimeSpan duration)
    {
        var profiling = new Profiling();
        string? tool = FindDotnetTrace();
        if (tool is null)
        {
            Console.Error.WriteLine("  --profile: dotnet-trace not found (dotnet tool install -g dotnet-trace); no CPU traces");
            return profiling;
        }

        System.IO.Directory.CreateDirectory(Directory);
        foreach (string name in Traced)
        {
            if (suite[name].Pid is not { } pid)
            {
                continue;
            }

            var info = new ProcessStartInfo(tool, ["collect", "-p", pid.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--profile", "dotnet-sampled-thread-time", "--duration", duration.ToString(@"hh\:mm\:ss", System.Globalization.CultureInfo.InvariantCulture),
                "-o", Path.Combine(Directory, $"{name}.nettrace")])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
            };
            profiling._traces.Add(Process.Start(info)!);
        }

        Console.Error.WriteLine($"  --profile: tracing {string.Join(", ", Traced)} for {duration.TotalSeconds:0} s into {Directory}");
        return profiling;
    }

    private static string? FindDotnetTrace()
    {
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append(Path.Combine(home, ".dotnet", "tools"))
            .Select(dir => Path.Combine(dir, "dotnet-trace"))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>Per-table row counters of the suite's database, to diff around the burst.</summary>
    public static async Task<Dictionary<string, (long Xacts, long Inserted, long Updated, long Deleted)>> DatabaseCountersAsync(string postgres)
    {
        await using var connection = new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        // The statistics collector publishes with a delay; ask for a fresh snapshot.
        await connection.ExecuteAsync("SELECT pg_stat_clear_snapshot()");
        var counters = (await connection.QueryAsync<(string Name, long Inserted, long Updated, long Deleted)>("""
            SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables
            """)).ToDictionary(r => r.Name, r => (0L, r.Inserted, r.Updated, r.Deleted));
        long xacts = await connection.ExecuteScalarAsync<long>("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()");
        counters["(transactions)"] = (xacts, 0, 0, 0);
        return counters;
    }

    public static string Describe(Dictionary<string, (long Xacts, long Inserted, long Updated, long Deleted)> before,
        Dictionary<string, (long Xacts, long Inserted, long Updated, long Deleted)> after, int targets)
    {
        var text = new StringBuilder($"database work per burst target ({targets:N0} targets; includes the benchmark's own polling):\n");
        foreach (var (name, now) in after.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var was = before.GetValueOrDefault(name);
            double per(long a, long b) => (a - b) / (double)targets;
            if (name == "(transactions)")
            {
                text.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"  transactions: {per(now.Xacts, was.Xacts):0.0}");
            }
            else if (now.Inserted + now.Updated + now.Deleted > was.Inserted + was.Updated + was.Deleted)
            {
                text.AppendLine(System.Globalization.CultureInfo.InvariantCulture,
                    $"  {name}: {per(now.Inserted, was.Inserted):0.00} inserted, {per(now.Updated, was.Updated):0.00} updated, {per(now.Deleted, was.Deleted):0.00} deleted");
            }
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var trace in _traces)
        {
            await trace.WaitForExitAsync();
            trace.Dispose();
        }

        if (_traces.Count > 0)
        {
            Console.Error.WriteLine($"  --profile: traces in {Directory} (dotnet-trace report <file> topN)");
        }
    }
}
