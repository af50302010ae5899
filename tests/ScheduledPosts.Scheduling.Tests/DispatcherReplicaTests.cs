using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Scheduling.Outbox;
using ScheduledPosts.ServiceDefaults.Json;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>The dispatcher beside another replica that is sending (docs/architecture.md#design-decisions).</summary>
public sealed class DispatcherReplicaTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    [Fact]
    public async Task An_idle_replica_does_not_spin_on_messages_another_replica_holds_and_takes_them_over_when_released()
    {
        using var passes = new PassCounter(factory.Services.GetRequiredService<IMeterFactory>());
        var message = new TargetDue($"post_{Guid.NewGuid():N}", $"tgt_{Guid.NewGuid():N}", 1);
        await using var connection = new NpgsqlConnection(factory.ConnectionString);
        await connection.OpenAsync();
        // Due in a moment; "another replica" locks it first, as its dispatcher does until the broker confirms a batch.
        long id;
        await using (var insert = new NpgsqlCommand("""
            INSERT INTO scheduling.outbox (message_type, payload, due_at)
            VALUES ('TargetDue', @payload::jsonb, clock_timestamp() + interval '1 second') RETURNING id
            """, connection))
        {
            insert.Parameters.AddWithValue("payload", JsonSerializer.Serialize(message, JsonDefaults.Options));
            id = (long)(await insert.ExecuteScalarAsync())!;
        }

        await using (var wake = new NpgsqlCommand($"SELECT pg_notify('{OutboxScheduler.WakeChannel}', '')", connection))
        {
            await wake.ExecuteNonQueryAsync();
        }

        await using var held = await connection.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand("SELECT id FROM scheduling.outbox WHERE id = @id FOR UPDATE", connection, held))
        {
            hold.Parameters.AddWithValue("id", id);
            await hold.ExecuteScalarAsync();
        }

        // An observation window, not a synchronisation: the message falls due a second in, and stays held for two more.
        long before = passes.Count;
        await Task.Delay(TimeSpan.FromSeconds(3));
        long whileHeld = passes.Count - before;
        Assert.True(whileHeld < 20, $"The dispatcher looked for due messages {whileHeld} times in 3 s while another replica held the only one.");
        Assert.DoesNotContain(factory.Due, d => d.Message.TargetId == message.TargetId);

        await held.RollbackAsync(); // the other replica died before marking it sent
        await Eventually.Until(() => Task.FromResult(factory.Due.Any(d => d.Message.TargetId == message.TargetId)), sent => sent,
            TimeSpan.FromSeconds(15), "the released message to be sent by this replica");
    }

    private sealed class PassCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _count;

        public PassCounter(IMeterFactory meters)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == meters && instrument.Meter.Name == Dispatcher.MeterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _count, value));
            _listener.Start();
        }

        public long Count => Interlocked.Read(ref _count);

        public void Dispose() => _listener.Dispose();
    }
}
