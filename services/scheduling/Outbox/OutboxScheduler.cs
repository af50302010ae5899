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

    /// <summary>
    /// Sends a due target at <paramref name="dueAt"/> (now when null), tied to its post so a cancel, delete or
    /// reschedule can take it back, and in its workspace's turn (docs/publishing.md#fair-shares).
    /// </summary>
    public Task ScheduleTargetAsync(NpgsqlTransaction tx, string workspaceId, TargetDue message, DateTimeOffset? dueAt)
        => InsertAsync(tx, message with { WorkspaceId = workspaceId }, dueAt, message.PostId, workspaceId, message.TargetId);

    /// <summary>
    /// Sends the removal of a published target's copy at <paramref name="dueAt"/> (now when null). Tied to no post, so
    /// a cancel or reschedule of the post's other targets never takes it back.
    /// </summary>
    public Task ScheduleUnpublishAsync(NpgsqlTransaction tx, TargetUnpublishDue message, DateTimeOffset? dueAt)
        => InsertAsync(tx, message, dueAt, postId: null, workspaceId: null, targetId: null);

    private static async Task InsertAsync<T>(NpgsqlTransaction tx, T message, DateTimeOffset? dueAt, string? postId, string? workspaceId, string? targetId)
        where T : class
    {
        await tx.Connection!.ExecuteAsync("""
            INSERT INTO outbox (message_type, payload, due_at, post_id, workspace_id, target_id, trace_parent)
            VALUES (@type, @payload::jsonb, COALESCE(@dueAt::timestamptz, clock_timestamp()), @postId, @workspaceId, @targetId, @traceParent);
            SELECT pg_notify(@channel, '');
            """,
            new
            {
                type = typeof(T).Name, payload = JsonSerializer.Serialize(message, JsonDefaults.Options), dueAt, postId, workspaceId, targetId,
                traceParent = Activity.Current?.Id, channel = WakeChannel,
            },
            tx);
    }

    /// <summary>Publishes a domain event as soon as the transaction commits.</summary>
    public Task PublishAsync<T>(NpgsqlTransaction tx, T domainEvent) where T : PostEvent
        => InsertAsync(tx, domainEvent, dueAt: null, postId: null, workspaceId: null, targetId: null);

    /// <summary>Publishes an account's domain event as soon as the transaction commits.</summary>
    public Task PublishAccountEventAsync<T>(NpgsqlTransaction tx, T domainEvent) where T : AccountEvent
        => InsertAsync(tx, domainEvent, dueAt: null, postId: null, workspaceId: null, targetId: null);

    /// <summary>Takes back every message still pending for <paramref name="postId"/> (cancel, delete, reschedule).</summary>
    public async Task<int> CancelScheduledAsync(NpgsqlTransaction tx, string postId)
        => await tx.Connection!.ExecuteAsync(
            "DELETE FROM outbox WHERE post_id = @postId AND sent_at IS NULL", new { postId }, tx);

    /// <summary>Takes back the pending message of one target (a single-target cancel).</summary>
    public async Task<int> CancelScheduledAsync(NpgsqlTransaction tx, string postId, string targetId)
        => await tx.Connection!.ExecuteAsync(
            "DELETE FROM outbox WHERE target_id = @targetId AND post_id = @postId AND sent_at IS NULL",
            new { postId, targetId }, tx);
}
