using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Scheduling.Outbox;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Posts;

/// <summary>
/// What a change to a post tells the rest of the system, inside the transaction that made the change: its domain events
/// (through the outbox, so an event exists if and only if the change committed) and, once every target is terminal,
/// the post's aggregate status (docs/api.md#statuses). User commands and the publisher's claims both end here.
/// </summary>
public sealed class PostEvents(PostStore store, OutboxScheduler outbox, TimeProvider clock)
{
    /// <summary>
    /// Writes a domain event with the post as it now is; a reschedule adds <c>previousScheduledFor</c>, a target
    /// event the <c>targetId</c> it is about, a decline its <c>reason</c>.
    /// </summary>
    public async Task EmitAsync<T>(NpgsqlTransaction tx, string type, string postId, DateTimeOffset? previousScheduledFor = null, string? targetId = null,
        string? reason = null)
        where T : PostEvent, new()
    {
        var (view, _) = (await store.GetAsync(tx.Connection!, postId, null, tx))!.Value;
        var data = JsonSerializer.SerializeToNode(view, JsonDefaults.Options)!.AsObject();
        if (typeof(T) == typeof(PostRescheduled))
        {
            data["previousScheduledFor"] = previousScheduledFor is null ? null : JsonValue.Create(JsonDefaults.Format(previousScheduledFor.Value));
        }

        if (targetId is not null)
        {
            data["targetId"] = targetId;
        }

        if (reason is not null)
        {
            data["reason"] = reason;
        }

        await outbox.PublishAsync(tx, new T
        {
            EventId = Ids.New("evt"),
            Type = type,
            WorkspaceId = view.WorkspaceId,
            PostId = view.Id,
            ScheduleVersion = view.ScheduleVersion,
            OccurredAt = clock.GetUtcNow(),
            Data = JsonSerializer.SerializeToElement(data, JsonDefaults.Options),
        });
    }

    /// <summary>
    /// When every target is terminal, gives the post its final status and emits its event (a cancel emits its own
    /// <c>post.cancelled</c>). Returns the final status, or null while a target is still under way.
    /// </summary>
    public async Task<string?> SettleAsync(NpgsqlTransaction tx, string postId, bool cancelled)
    {
        var targets = await store.TargetsAsync(tx.Connection!, postId, tx);
        string? final = PostRules.AggregateStatus(targets.Select(t => t.Status).ToList(), cancelled);
        if (final is null)
        {
            return null;
        }

        await store.SettleAsync(tx, postId, final, targets.Max(t => t.PublishedAt));
        switch (final)
        {
            case PostStatus.Published:
                await EmitAsync<PostPublished>(tx, "post.published", postId);
                break;
            case PostStatus.PartiallyPublished:
                await EmitAsync<PostPartiallyPublished>(tx, "post.partially_published", postId);
                break;
            case PostStatus.Failed:
                await EmitAsync<PostFailed>(tx, "post.failed", postId);
                break;
        }

        return final;
    }
}
