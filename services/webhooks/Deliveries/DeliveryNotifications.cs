using System.Threading.Channels;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Data;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// Wakes the <see cref="DeliverySender"/> early: on a PostgreSQL NOTIFY (new deliveries, from any replica),
/// heard on a dedicated LISTEN connection that is re-opened with backoff when it breaks, and in process
/// when an attempt finishes.
/// </summary>
public sealed partial class DeliveryNotifications(
    [FromKeyedServices(PostgresExtensions.Listener)] NpgsqlDataSource dataSource, TimeProvider clock, ILogger<DeliveryNotifications> logger) : BackgroundService
{
    public const string ChannelName = "webhook_deliveries";
    public const string ApplicationName = "webhooks-listener";

    // How long the LISTEN connection may sit silent before it is probed, so a dead one is noticed.
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxReconnectDelay = TimeSpan.FromSeconds(30);

    // One pending wake-up is enough: the sender looks at the whole table when it wakes.
    private readonly Channel<bool> _wakeUps = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Wake() => _wakeUps.Writer.TryWrite(true);

    /// <summary>Returns when woken, or once <paramref name="timeout"/> has passed.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var timer = new CancellationTokenSource(timeout, clock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timer.Token);
        try
        {
            await _wakeUps.Reader.WaitToReadAsync(linked.Token);
            _wakeUps.Reader.TryRead(out _);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // timed out
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, _) => Wake();
                // Named, so operators (and the tests) can tell the listener apart in pg_stat_activity.
                await using (var listen = new NpgsqlCommand($"SET application_name = '{ApplicationName}'; LISTEN {ChannelName}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }

                delay = TimeSpan.FromMilliseconds(500);
                Wake(); // whatever was written while nobody listened
                while (true)
                {
                    if (!await connection.WaitAsync(ProbeInterval, stoppingToken))
                    {
                        await using var probe = new NpgsqlCommand("SELECT 1", connection);
                        await probe.ExecuteNonQueryAsync(stoppingToken);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.ListenFailed(logger, e, delay);
            }

            try
            {
                await Task.Delay(delay, clock, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxReconnectDelay.Ticks));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "The LISTEN connection failed; reconnecting in {Delay}")]
        public static partial void ListenFailed(ILogger logger, Exception exception, TimeSpan delay);
    }
}
