using System.Diagnostics;
using System.Text.Json;
using Dapper;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Outbox;

/// <summary>
/// Schedules bus messages inside the caller's transaction, in the spirit of MassTransit's
/// <c>IMessageScheduler</c>: the message exists if and only if the change that caused it commits,
/// and the <see cref="Dispatcher"/> sends it through MassTransit when it is due, inside the trace that wrote it.
/// </summary>
public sealed class OutboxScheduler
{
    public const string WakeChannel = "outbox_due";

    /// <summary>Sends <paramref name="message"/> at <paramref name="dueAt"/>; tied to <paramref name="postId"/> so a cancel or delete can take it back.</summary>
    public async Task ScheduleSendAsync<T>(NpgsqlTransaction tx, T message, DateTimeOffset? dueAt, string? postId)
        where T : class
    {
        await tx.Connection!.ExecuteAsync("""
            INSERT INTO outbox (message_type, payload, due_at, post_id, trace_parent)
            VALUES (@type, @payload::jsonb, COALESCE(@dueAt::timestamptz, clock_timestamp()), @postId, @traceParent);
            SELECT pg_notify(@channel, '');
            """,
            new { type = typeof(T).Name, payload = JsonSerializer.Serialize(message, JsonDefaults.Options), dueAt, postId, traceParent = Activity.Current?.Id, channel = WakeChannel },
            tx);
    }

    /// <summary>Publishes a domain event as soon as the transaction commits.</summary>
    public Task PublishAsync<T>(NpgsqlTransaction tx, T domainEvent) where T : PostEvent
        => ScheduleSendAsync(tx, domainEvent, dueAt: null, postId: null);

    /// <summary>Takes back every message still pending for <paramref name="postId"/> (cancel, delete, reschedule).</summary>
    public async Task<int> CancelScheduledAsync(NpgsqlTransaction tx, string postId)
        => await tx.Connection!.ExecuteAsync(
            "DELETE FROM outbox WHERE post_id = @postId AND sent_at IS NULL", new { postId }, tx);

    /// <summary>Takes back the pending message of one target (a single-target cancel).</summary>
    public async Task<int> CancelScheduledAsync(NpgsqlTransaction tx, string postId, string targetId)
        => await tx.Connection!.ExecuteAsync(
            "DELETE FROM outbox WHERE post_id = @postId AND sent_at IS NULL AND payload->>'targetId' = @targetId",
            new { postId, targetId }, tx);
}
