using System.Diagnostics;
using Npgsql;
using ScheduledPosts.Testing;

[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

namespace ScheduledPosts.Chaos.Tests;

/// <summary>
/// The chaos suite's own PostgreSQL and RabbitMQ, which the scenarios stop and start: never the shared test servers
/// the other test classes use at the same time. <c>scripts/chaos-infra.sh</c> starts them and says where they are
/// (<c>SP_CHAOS_POSTGRES</c>, <c>SP_CHAOS_RABBITMQ</c>, and itself as <c>SP_CHAOS_CONTROL</c>); <c>./test.sh</c> does that.
/// </summary>
public static class ChaosServers
{
    public static string Postgres => Required("SP_CHAOS_POSTGRES");

    public static RabbitMqServer RabbitMq => Infrastructure.ParseRabbit(Required("SP_CHAOS_RABBITMQ"));

    public static Task StopPostgresAsync() => ControlAsync("stop-postgres");

    public static async Task StartPostgresAsync()
    {
        await ControlAsync("start-postgres");
        // The test's own pooled connections died with the server; the services must cope by themselves.
        NpgsqlConnection.ClearAllPools();
    }

    public static Task StopRabbitMqAsync() => ControlAsync("stop-rabbitmq");

    /// <summary>
    /// The nodes of the three-node RabbitMQ cluster (<c>chaos-infra.sh start-cluster</c>): AMQP on 5681-5683, management
    /// on 15681-15683, the chaos node's guest user (the nodes run on this machine only).
    /// </summary>
    public static IReadOnlyList<RabbitMqServer> ClusterNodes { get; } = [.. Enumerable.Range(1, 3).Select(n =>
        RabbitMq with { Port = 5680 + n, ManagementUrl = new Uri($"http://127.0.0.1:{15680 + n}/") })];

    /// <summary>The name RabbitMQ gives node <paramref name="n"/> (1-3), as its management API reports it.</summary>
    public static string ClusterNodeName(int n) => $"chaos-c{n}@localhost";

    // A first start boots three nodes and joins two of them to the first: minutes on a loaded machine.
    public static Task StartClusterAsync() => ControlAsync("start-cluster", TimeSpan.FromMinutes(6));

    public static Task StopClusterAsync() => ControlAsync("stop-cluster");

    public static Task StartClusterNodeAsync(int n) => ControlAsync($"start-cluster-node {n}", TimeSpan.FromMinutes(5));

    public static Task StopClusterNodeAsync(int n) => ControlAsync($"stop-cluster-node {n}");

    public static Task StartRabbitMqAsync() => ControlAsync("start-rabbitmq");

    /// <summary>
    /// The primary/standby pair of the failover scenario (<c>chaos-infra.sh start-replica-pair</c>): the primary on 55434,
    /// its synchronous standby on 55435, both listed as a production connection string would, the primary required.
    /// </summary>
    public const string ReplicaPair = "Host=127.0.0.1:55434,127.0.0.1:55435;Username=postgres;Database=postgres;Target Session Attributes=primary";

    public static Task StartReplicaPairAsync() => ControlAsync("start-replica-pair");

    public static Task StopReplicaPairAsync() => ControlAsync("stop-replica-pair");

    public static Task StopPrimaryAsync() => ControlAsync("stop-primary");

    public static async Task PromoteStandbyAsync()
    {
        await ControlAsync("promote-standby");
        // The test's own pooled connections died with the primary, and its pools remember the standby as one.
        NpgsqlConnection.ClearAllPools();
    }

    // Held for the life of the test process: one chaos run per machine at a time, whichever clone it comes from.
    private static FileStream? _machineLock;

    /// <summary>Both servers up (a scenario that failed half-way may have left one stopped); a no-op when they are.</summary>
    public static async Task EnsureRunningAsync()
    {
        string shared = Environment.GetEnvironmentVariable("SP_TEST_POSTGRES") ?? "";
        var chaos = new NpgsqlConnectionStringBuilder(Postgres);
        _ = RabbitMq;
        _ = Required("SP_CHAOS_CONTROL");
        if (shared.Length > 0 && new NpgsqlConnectionStringBuilder(shared) is var s && s.Host == chaos.Host && s.Port == chaos.Port)
        {
            throw new InvalidOperationException(
                "SP_CHAOS_POSTGRES names the shared test server; the chaos tests stop their server and must have one of their own.");
        }

        // The servers are the machine's: another clone's chaos run would stop them under this one. Take turns.
        string lockPath = Path.Combine(Path.GetTempPath(), "scheduledposts-chaos.lock");
        _machineLock ??= await Eventually.Until(() => Task.FromResult(TryLock(lockPath)), l => l is not null,
            TimeSpan.FromMinutes(15), $"the other chaos run holding {lockPath} to finish");

        await StartPostgresAsync();
        await StartRabbitMqAsync();
    }

    private static FileStream? TryLock(string path)
    {
        try
        {
            // FileShare.None is an exclusive flock on Unix, released by the kernel if the process dies.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string Required(string name)
        => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{name} is not set. The chaos tests stop and start their own PostgreSQL and RabbitMQ, apart from the shared " +
                "test servers; run them through ./test.sh, or start those servers first: " +
                "`source scripts/chaos-infra.sh && start_chaos_infra` (it exports SP_CHAOS_POSTGRES, SP_CHAOS_RABBITMQ, SP_CHAOS_CONTROL).");

    private static async Task ControlAsync(string command, TimeSpan? timeLimit = null)
    {
        var info = new ProcessStartInfo("bash", [Required("SP_CHAOS_CONTROL"), .. command.Split(' ')])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(info) ?? throw new InvalidOperationException("Could not run the chaos control script.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(timeLimit ?? TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"chaos-infra.sh {command} failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        }
    }
}
