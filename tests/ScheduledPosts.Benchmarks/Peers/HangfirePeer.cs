using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;

namespace ScheduledPosts.Benchmarks.Peers;

/// <summary>
/// Hangfire with Hangfire.PostgreSql, tuned for latency the way their documentation describes: the delayed-job scheduler
/// polls every 100 ms instead of 15 s, workers are woken by LISTEN/NOTIFY (<c>EnableLongPolling</c>) with a 100 ms
/// fallback poll instead of 15 s, and 20 workers (the default is 5 per core, at most 20).
/// </summary>
public sealed class HangfirePeer : IPeerScheduler
{
    private static readonly TimeSpan SchedulePolling = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan QueuePolling = TimeSpan.FromMilliseconds(100);
    private const int Workers = 20;

    private readonly BackgroundJobServer _server;

    private HangfirePeer(BackgroundJobServer server) => _server = server;

    public string Name => "Hangfire";

    public string Settings =>
        $"Hangfire.Core + Hangfire.PostgreSql: SchedulePollingInterval {SchedulePolling.TotalMilliseconds} ms, QueuePollInterval {QueuePolling.TotalMilliseconds} ms, " +
        $"EnableLongPolling (LISTEN/NOTIFY), {Workers} workers; jobs via BackgroundJob.Schedule(() => …, DateTimeOffset)";

    public static HangfirePeer Start(string connectionString)
    {
        var options = new PostgreSqlStorageOptions
        {
            QueuePollInterval = QueuePolling,
            EnableLongPolling = true,
            PrepareSchemaIfNecessary = true,
        };
        var storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(connectionString, options), options);
        // BackgroundJob.Schedule goes through the global storage, as in an application that configured Hangfire once.
        GlobalConfiguration.Configuration.UseStorage(storage);
        var server = new BackgroundJobServer(new BackgroundJobServerOptions
        {
            WorkerCount = Workers,
            SchedulePollingInterval = SchedulePolling,
            ServerName = "benchmark",
        }, storage);
        return new HangfirePeer(server);
    }

    public Task ScheduleAsync(IReadOnlyList<(string Id, DateTimeOffset Due)> jobs)
        => Parallel.ForEachAsync(jobs, new ParallelOptions { MaxDegreeOfParallelism = 16 }, (job, _) =>
        {
            string id = job.Id;
            BackgroundJob.Schedule(() => HangfireJob.Run(id), job.Due);
            return ValueTask.CompletedTask;
        });

    public ValueTask DisposeAsync()
    {
        _server.SendStop();
        _server.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>The job Hangfire runs: it notes when it started.</summary>
public static class HangfireJob
{
    public static void Run(string id) => JobLog.Started(id);
}
