using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.Scheduling.Outbox;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Publishing;

/// <summary>
/// The publisher's side of a post (docs/publishing.md): it claims a due target with a lease, and completes it with the
/// platform's answer; claims whose lease ran out are settled by the <see cref="LeaseReaper"/>. Each step locks the
/// post row and writes the target, the post's aggregate status and their events in one transaction.
/// </summary>
public sealed class TargetClaims(
    NpgsqlDataSource dataSource,
    PostStore posts,
    ClaimStore claims,
    PostEvents events,
    OutboxScheduler outbox,
    SocialAccounts accounts,
    TimeProvider clock,
    IOptions<PublishingOptions> options)
{
    private readonly PublishingOptions _options = options.Value;

    public sealed record ClaimedTarget(
        string PostId, string TargetId, string WorkspaceId, string Platform, string AccountHandle, string Text, string? FirstComment,
        Guid LeaseToken, DateTimeOffset LeaseExpiresAt, int Attempt, string CredentialsJson);

    public abstract record Outcome;

    public sealed record Published(string ExternalPostId, string? ExternalUrl) : Outcome;

    public sealed record Failed(string ErrorCode, string ErrorMessage, bool Retryable) : Outcome;

    /// <summary>
    /// The publisher takes a due target: scheduled → publishing with a lease. Null (with the reason) when the
    /// post is gone, the message is stale, or the target is no longer waiting (cancelled, already claimed).
    /// </summary>
    public async Task<(ClaimedTarget? Target, string Reason)> ClaimAsync(string postId, string targetId, long scheduleVersion)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var post = await posts.LockAsync(tx, postId);
        if (post is null)
        {
            return (null, "not_found");
        }

        if (post.ScheduleVersion != scheduleVersion)
        {
            return (null, "stale");
        }

        var claimed = await claims.ClaimAsync(tx, postId, targetId, _options.Lease);
        if (claimed is null)
        {
            return (null, "not_scheduled");
        }

        await posts.TouchAsync(tx, postId);
        if (post.Status == PostStatus.Scheduled)
        {
            await posts.SetStatusAsync(tx, postId, PostStatus.Publishing);
            await events.EmitAsync<PostPublishing>(tx, "post.publishing", postId);
        }

        await tx.CommitAsync();
        return (new ClaimedTarget(postId, targetId, post.WorkspaceId, claimed.Platform, claimed.Handle, claimed.CaptionOverride ?? post.Caption,
            claimed.FirstComment, claimed.LeaseToken, PostStore.Utc(claimed.LeaseExpiresAt), claimed.AttemptCount,
            accounts.CredentialsJson(claimed.AccountId, claimed.Credentials)), "claimed");
    }

    /// <summary>
    /// The publisher reports how an upload ended. Only the holder of the current lease may complete, and a
    /// repeated report is answered without being applied twice; a retryable failure with attempts left goes
    /// back on the durable schedule with backoff.
    /// </summary>
    public async Task<(string TargetStatus, string PostStatus)> CompleteAsync(string targetId, Guid leaseToken, Outcome outcome, TimeSpan? retryAfter = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        string postId = await claims.PostOfTargetAsync(tx, targetId) ?? throw ApiException.NotFound("Target");
        var post = await posts.LockAsync(tx, postId) ?? throw ApiException.NotFound("Post");
        var target = (await posts.TargetsAsync(connection, postId, tx)).Single(t => t.Id == targetId);
        if (target.LeaseToken != leaseToken)
        {
            throw ApiException.Conflict("The claim on this target is no longer held.");
        }

        if (target.Status != TargetStatus.Publishing)
        {
            // The same report again (its first answer was lost): answer as before, change nothing.
            return (target.Status, post.Status);
        }

        var result = await ApplyOutcomeAsync(tx, post, target, outcome, retryAfter);
        await tx.CommitAsync();
        return result;
    }

    /// <summary>
    /// Handles targets whose claim expired without a report (the publisher died mid-upload), as an unknown
    /// outcome: retried with the same idempotency key where the platform honours one, else failed with
    /// <c>UNKNOWN_OUTCOME</c> rather than risk a duplicate. Returns how many it handled.
    /// </summary>
    public async Task<int> ExpireLeasesAsync(int batch)
    {
        List<(string TargetId, string PostId)> expired;
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            expired = await claims.ExpiredAsync(connection, batch);
        }

        int handled = 0;
        foreach (var (targetId, postId) in expired)
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await using var tx = await connection.BeginTransactionAsync();
            var post = await posts.LockAsync(tx, postId);
            var target = post is null ? null : (await posts.TargetsAsync(connection, postId, tx)).SingleOrDefault(t => t.Id == targetId);
            if (target is null || target.Status != TargetStatus.Publishing || PostStore.Utc(target.LeaseExpiresAt!.Value) > clock.GetUtcNow())
            {
                continue; // completed, or reaped by another replica, in the meantime
            }

            bool retrySafe = Platforms.Known.TryGetValue(target.Platform, out var platform) && platform.SupportsIdempotencyKey;
            Outcome outcome = retrySafe
                ? new Failed(TargetErrors.LeaseExpired, "The publisher's claim expired before it reported; retrying with the same idempotency key.", Retryable: true)
                : new Failed(TargetErrors.UnknownOutcome, "The publisher's claim expired before it reported; the upload may or may not have gone out.", Retryable: false);
            await ApplyOutcomeAsync(tx, post!, target, outcome, retryAfter: null);
            await tx.CommitAsync();
            handled++;
        }

        return handled;
    }

    private async Task<(string TargetStatus, string PostStatus)> ApplyOutcomeAsync(
        NpgsqlTransaction tx, PostStore.PostRow post, PostStore.TargetRow target, Outcome outcome, TimeSpan? retryAfter)
    {
        var now = clock.GetUtcNow();
        string newStatus;
        switch (outcome)
        {
            case Published published:
                newStatus = TargetStatus.Published;
                await claims.MarkPublishedAsync(tx, target.Id, now, published.ExternalPostId, published.ExternalUrl);
                break;
            case Failed failed when failed.Retryable
                && PostRules.RetryDelay(target.AttemptCount, _options.MaxAttempts, _options.RetryBase, _options.RetryCap, Random.Shared.NextDouble()) is { } delay:
                newStatus = TargetStatus.Scheduled;
                // A platform's Retry-After (429) is a floor under the backoff.
                var retryAt = now + (retryAfter is { } floor && floor > delay ? floor : delay);
                await claims.ScheduleRetryAsync(tx, target.Id, retryAt, failed.ErrorCode, failed.ErrorMessage);
                await outbox.ScheduleSendAsync(tx, new TargetDue(post.Id, target.Id, post.ScheduleVersion), retryAt, post.Id);
                break;
            case Failed failed:
                newStatus = TargetStatus.Failed;
                await claims.MarkFailedAsync(tx, target.Id, failed.ErrorCode, failed.ErrorMessage);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(outcome));
        }

        await posts.TouchAsync(tx, post.Id);
        if (newStatus == TargetStatus.Published)
        {
            await events.EmitAsync<PostTargetPublished>(tx, "target.published", post.Id, targetId: target.Id);
        }
        else if (newStatus == TargetStatus.Failed)
        {
            await events.EmitAsync<PostTargetFailed>(tx, "target.failed", post.Id, targetId: target.Id);
        }

        string postStatus = await events.SettleAsync(tx, post.Id, cancelled: post.CancelledAt is not null) ?? post.Status;
        return (newStatus, postStatus);
    }
}
