using Npgsql;
using Quartz;

namespace ScheduledPosts.Benchmarks.Peers;

/// <summary>
/// Quartz.NET with its ADO.NET job store on PostgreSQL, clustered, over tables created from Quartz's own PostgreSQL DDL
/// (<c>quartz_tables_postgres.sql</c>, with its attribution), tuned as its configuration reference says: the shortest legal idle wait (1 s;
/// it only bounds how late a trigger scheduled from another process is seen), a thread pool of 50 ("50 or 100" for
/// many short jobs), batch acquisition up to the pool size (Quartz's default for persistent stores) and no fire-ahead
/// window, so no trigger fires early.
/// </summary>
public sealed class QuartzPeer : IPeerScheduler
{
    private const int Threads = 50;

    private readonly StandaloneSchedulerFactory _factory;
    private readonly IScheduler _scheduler;

    private QuartzPeer(StandaloneSchedulerFactory factory, IScheduler scheduler)
    {
        _factory = factory;
        _scheduler = scheduler;
    }

    public string Name => "Quartz.NET";

    public string Settings =>
        $"Quartz {typeof(IScheduler).Assembly.GetName().Version}: AdoJobStore on PostgreSQL (PostgreSQL delegate, Quartz's DDL), clustered, idleWaitTime 1 s, " +
        $"maxConcurrency {Threads}, batch acquisition up to {Threads} (MaxBatchSize auto), fire-ahead window 0; one-shot simple triggers";

    public static async Task<QuartzPeer> StartAsync(string connectionString)
    {
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            using var reader = new StreamReader(typeof(QuartzPeer).Assembly.GetManifestResourceStream(
                "ScheduledPosts.Benchmarks.Peers.quartz_tables_postgres.sql")!);
            string sql = (await reader.ReadToEndAsync()).Replace("{0}", "qrtz_", StringComparison.Ordinal).Replace("{1}", "qrtz_", StringComparison.Ordinal);
            await using var ddl = new NpgsqlCommand(sql, connection);
            await ddl.ExecuteNonQueryAsync();
        }

        var factory = QuartzSchedulerBuilder.Create(q =>
        {
            q.ConfigureScheduler(o =>
            {
                o.InstanceName = "benchmark";
                o.IdleWaitTime = TimeSpan.FromSeconds(1);
                o.BatchTriggerAcquisitionFireAheadTimeWindow = TimeSpan.Zero;
            });
            q.UseDefaultThreadPool(Threads);
            q.UsePersistentStore(store =>
            {
                store.UsePostgres(connectionString);
                store.UseClustering(_ => { });
                store.UseSystemTextJsonSerializer(_ => { });
            });
        }).Build();
        var scheduler = await factory.GetScheduler();
        await scheduler.Start();
        return new QuartzPeer(factory, scheduler);
    }

    public async Task ScheduleAsync(IReadOnlyList<(string Id, DateTimeOffset Due)> jobs)
    {
        // In batches: one transaction per batch instead of per job, only to keep the setup short.
        foreach (var chunk in jobs.Chunk(500))
        {
            var batch = chunk.ToDictionary(
                job => JobBuilder.Create<QuartzJob>().WithIdentity(job.Id, "benchmark").Build(),
                IReadOnlyCollection<ITrigger> (job) => [TriggerBuilder.Create().WithIdentity(job.Id, "benchmark").StartAt(job.Due).Build()]);
            await _scheduler.ScheduleJobs(batch);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _scheduler.Shutdown(waitForJobsToComplete: false);
        await _factory.DisposeAsync();
    }
}

/// <summary>The job Quartz runs: it notes when it started.</summary>
public sealed class QuartzJob : IJob
{
    public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        JobLog.Started(context.JobDetail.Key.Name);
        return ValueTask.CompletedTask;
    }
}
