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
        => ScheduleTargetsAsync(tx, workspaceId, message.PostId, [message.TargetId], message.ScheduleVersion, dueAt);

    /// <summary><see cref="ScheduleTargetAsync"/> for several targets of one post, in one statement.</summary>
    public Task ScheduleTargetsAsync(NpgsqlTransaction tx, string workspaceId, string postId, IReadOnlyList<string> targetIds, long scheduleVersion,
        DateTimeOffset? dueAt)
        => InsertAsync(tx, [.. targetIds.Select(targetId => Row(new TargetDue(postId, targetId, scheduleVersion) { WorkspaceId = workspaceId }, postId, workspaceId, targetId))],
            dueAt);

    /// <summary>
    /// Sends the removal of a published target's copy at <paramref name="dueAt"/> (now when null). Tied to no post, so
    /// a cancel or reschedule of the post's other targets never takes it back.
    /// </summary>
    public Task ScheduleUnpublishAsync(NpgsqlTransaction tx, TargetUnpublishDue message, DateTimeOffset? dueAt)
        => InsertAsync(tx, [Row(message)], dueAt);

    /// <summary>
    /// Publishes domain events as soon as the transaction commits, in the order given: several as one
    /// <see cref="PostEventBatch"/> message.
    /// </summary>
    public Task PublishManyAsync(NpgsqlTransaction tx, IReadOnlyList<PostEvent> domainEvents) => domainEvents.Count switch
    {
        0 => Task.CompletedTask,
        1 => InsertAsync(tx, [Row(domainEvents[0])], dueAt: null),
        _ => InsertAsync(tx, [Row(new PostEventBatch { Events = domainEvents })], dueAt: null),
    };

    /// <summary>Publishes an account's domain event as soon as the transaction commits.</summary>
    public Task PublishAccountEventAsync<T>(NpgsqlTransaction tx, T domainEvent) where T : AccountEvent
        => InsertAsync(tx, [Row(domainEvent)], dueAt: null);

    private sealed record OutboxRow(string Type, string Payload, string? PostId, string? WorkspaceId, string? TargetId);

    private static OutboxRow Row(object message, string? postId = null, string? workspaceId = null, string? targetId = null)
        => new(message.GetType().Name, JsonSerializer.Serialize(message, message.GetType(), JsonDefaults.Options), postId, workspaceId, targetId);

    /// <summary>Writes the messages in the order given, all due at <paramref name="dueAt"/> (now when null), and wakes the dispatcher once.</summary>
    private static async Task InsertAsync(NpgsqlTransaction tx, IReadOnlyList<OutboxRow> rows, DateTimeOffset? dueAt)
    {
        if (rows.Count == 0)
        {
            return;
        }

        await tx.Connection!.ExecuteAsync("""
            INSERT INTO outbox (message_type, payload, due_at, post_id, workspace_id, target_id, trace_parent)
            SELECT m.type, m.payload::jsonb, COALESCE(@dueAt::timestamptz, clock_timestamp()), m.post_id, m.workspace_id, m.target_id, @traceParent
            FROM unnest(@types::text[], @payloads::text[], @postIds::text[], @workspaceIds::text[], @targetIds::text[])
                WITH ORDINALITY AS m(type, payload, post_id, workspace_id, target_id, n)
            ORDER BY m.n;
            SELECT pg_notify(@channel, '');
            """,
            new
            {
                types = rows.Select(r => r.Type).ToArray(),
                payloads = rows.Select(r => r.Payload).ToArray(),
                postIds = rows.Select(r => r.PostId).ToArray(),
                workspaceIds = rows.Select(r => r.WorkspaceId).ToArray(),
                targetIds = rows.Select(r => r.TargetId).ToArray(),
                dueAt, traceParent = Activity.Current?.Id, channel = WakeChannel,
            },
            tx);
    }

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
