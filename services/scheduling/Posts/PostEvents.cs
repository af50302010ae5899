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
    /// Domain events of one transaction waiting to be written together (<see cref="WriteAsync"/>): one read of their posts
    /// and one insert for all of them, however many posts and targets a batch of claims or reports changed.
    /// </summary>
    public sealed class Batch
    {
        internal List<Pending> Events { get; } = [];

        /// <summary>Adds an event of <typeparamref name="T"/>; its post is read when the batch is written.</summary>
        public void Add<T>(string type, string postId, DateTimeOffset? previousScheduledFor = null, string? targetId = null, string? reason = null)
            where T : PostEvent, new()
            => Events.Add(new Pending(static () => new T(), type, postId, previousScheduledFor, targetId, reason));
    }

    internal sealed record Pending(Func<PostEvent> New, string Type, string PostId, DateTimeOffset? PreviousScheduledFor, string? TargetId, string? Reason);

    /// <summary>
    /// Writes a domain event with the post as it now is; a reschedule adds <c>previousScheduledFor</c>, a target
    /// event the <c>targetId</c> it is about, a decline its <c>reason</c>.
    /// </summary>
    public Task EmitAsync<T>(NpgsqlTransaction tx, string type, string postId, DateTimeOffset? previousScheduledFor = null, string? targetId = null,
        string? reason = null)
        where T : PostEvent, new()
    {
        var batch = new Batch();
        batch.Add<T>(type, postId, previousScheduledFor, targetId, reason);
        return WriteAsync(tx, batch);
    }

    /// <summary>Writes the batch's events, in the order they were added, each with its post as it now is, and empties it.</summary>
    public async Task WriteAsync(NpgsqlTransaction tx, Batch batch)
    {
        if (batch.Events.Count == 0)
        {
            return;
        }

        var views = await store.GetManyAsync(tx, [.. batch.Events.Select(e => e.PostId).Distinct(StringComparer.Ordinal)]);
        var now = clock.GetUtcNow();
        var written = new List<PostEvent>(batch.Events.Count);
        foreach (var pending in batch.Events)
        {
            var view = views.GetValueOrDefault(pending.PostId) ?? throw new InvalidOperationException($"Post {pending.PostId} is gone before its event was written.");
            written.Add(Build(pending, view, now));
        }

        await outbox.PublishManyAsync(tx, written);
        batch.Events.Clear();
    }

    private static PostEvent Build(Pending pending, PostView view, DateTimeOffset now)
    {
        var data = JsonSerializer.SerializeToNode(view, JsonDefaults.Options)!.AsObject();
        var domainEvent = pending.New();
        if (domainEvent is PostRescheduled)
        {
            data["previousScheduledFor"] = pending.PreviousScheduledFor is { } previous ? JsonValue.Create(JsonDefaults.Format(previous)) : null;
        }

        if (pending.TargetId is not null)
        {
            data["targetId"] = pending.TargetId;
        }

        if (pending.Reason is not null)
        {
            data["reason"] = pending.Reason;
        }

        return domainEvent with
        {
            EventId = Ids.New("evt"),
            Type = pending.Type,
            WorkspaceId = view.WorkspaceId,
            PostId = view.Id,
            ScheduleVersion = view.ScheduleVersion,
            OccurredAt = now,
            Data = JsonSerializer.SerializeToElement(data, JsonDefaults.Options),
        };
    }

    /// <summary>
    /// When every target is terminal, gives the post its final status and emits its event (a cancel emits its own
    /// <c>post.cancelled</c>). Returns the final status, or null while a target is still under way.
    /// </summary>
    public async Task<string?> SettleAsync(NpgsqlTransaction tx, string postId, bool cancelled)
        => (await SettleManyAsync(tx, [(postId, cancelled)]))[postId];

    /// <summary>
    /// <see cref="SettleAsync"/> for many posts: their targets read in one statement, the settled ones written in one,
    /// their events in one. Answers each post's final status, or null while one of its targets is still under way.
    /// </summary>
    public async Task<Dictionary<string, string?>> SettleManyAsync(NpgsqlTransaction tx, IReadOnlyCollection<(string PostId, bool Cancelled)> posts)
    {
        var targets = await store.TargetsOfAsync(tx, [.. posts.Select(p => p.PostId)]);
        var finals = new Dictionary<string, string?>(StringComparer.Ordinal);
        var settled = new List<(string PostId, string Status, DateTime? PublishedAt)>();
        var batch = new Batch();
        foreach (var (postId, cancelled) in posts)
        {
            var ofPost = targets[postId].ToList();
            string? final = PostRules.AggregateStatus(ofPost.Select(t => t.Status).ToList(), cancelled);
            finals[postId] = final;
            if (final is null)
            {
                continue;
            }

            settled.Add((postId, final, ofPost.Max(t => t.PublishedAt)));
            switch (final)
            {
                case PostStatus.Published:
                    batch.Add<PostPublished>("post.published", postId);
                    break;
                case PostStatus.PartiallyPublished:
                    batch.Add<PostPartiallyPublished>("post.partially_published", postId);
                    break;
                case PostStatus.Failed:
                    batch.Add<PostFailed>("post.failed", postId);
                    break;
            }
        }

        if (settled.Count > 0)
        {
            await store.SettleManyAsync(tx, settled);
            await WriteAsync(tx, batch);
        }

        return finals;
    }
}
