using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.Scheduling.Outbox;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.Scheduling.Watch;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Publishing;

/// <summary>
/// The publisher's side of a post (docs/publishing.md): it claims due targets with a lease (many in one transaction),
/// and completes each with the platform's answer; claims whose lease ran out are settled by the <see cref="LeaseReaper"/>.
/// Each step locks the post rows and writes the targets, the posts' aggregate status and their events in one transaction.
/// </summary>
public sealed class TargetClaims(
    // The publishing path's own pool: a burst of API requests cannot keep a claim or a report waiting for a connection.
    [FromKeyedServices(PublishingOptions.Pool)] NpgsqlDataSource dataSource,
    PostTurns turns,
    PostStore posts,
    ClaimStore claims,
    PostEvents events,
    OutboxScheduler outbox,
    PickUps pickUps,
    SocialAccounts accounts,
    TimeProvider clock,
    SchedulingMetrics metrics,
    IOptions<PublishingOptions> options)
{
    private readonly PublishingOptions _options = options.Value;

    public sealed record ClaimedTarget(
        string PostId, string TargetId, string WorkspaceId, string Platform, string AccountId, string AccountHandle, string Text, string? FirstComment,
        Guid LeaseToken, DateTimeOffset LeaseExpiresAt, int Attempt, string CredentialsJson, long Epoch, DateTimeOffset FirstClaimedAt);

    public abstract record Outcome;

    public sealed record Published(string ExternalPostId, string? ExternalUrl) : Outcome;

    public sealed record Failed(string ErrorCode, string ErrorMessage, bool Retryable) : Outcome;

    /// <summary>One due message's claim: the target, and the schedule version the message was written under.</summary>
    public sealed record ClaimRequest(string PostId, string TargetId, long ScheduleVersion);

    /// <summary>
    /// The publisher takes a due target: scheduled → publishing with a lease. Null (with the reason) when the
    /// post is gone, the message is stale, or the target is no longer waiting (cancelled, already claimed).
    /// </summary>
    /// <param name="callerGaveUp">
    /// Cancelled when the caller no longer waits for the answer (its deadline passed): a claim granted then would leave
    /// its target claimed by nobody until the lease ran out, so it is not granted (nothing is changed).
    /// </param>
    /// <exception cref="OperationCanceledException"><paramref name="callerGaveUp"/> was cancelled before the claim was granted.</exception>
    public async Task<(ClaimedTarget? Target, string Reason)> ClaimAsync(string postId, string targetId, long scheduleVersion,
        CancellationToken callerGaveUp = default)
    {
        // Claims of one post wait for their turn here, holding no connection (the post's row lock would order them anyway).
        using var turn = await turns.TakeAsync(postId, callerGaveUp);
        return (await ClaimManyAsync([new ClaimRequest(postId, targetId, scheduleVersion)], waitForBusyPosts: true, callerGaveUp))[0];
    }

    /// <summary>
    /// <see cref="ClaimAsync"/> for many due messages at once, in one transaction: the posts' rows are locked together
    /// (in id order), the targets claimed in one statement. Each answer is what <see cref="ClaimAsync"/> would have given,
    /// in the order of <paramref name="requests"/>; a target named twice is claimed once (the other answer is
    /// <c>not_scheduled</c>). A cancel or reschedule holding a post's lock comes first, as for a single claim.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="callerGaveUp"/> was cancelled before the claims were granted.</exception>
    public async Task<List<(ClaimedTarget? Target, string Reason)>> ClaimManyAsync(IReadOnlyList<ClaimRequest> requests,
        bool waitForBusyPosts = false, CancellationToken callerGaveUp = default)
    {
        var answers = requests.Select(_ => ((ClaimedTarget?)null, "not_scheduled")).ToList();
        foreach (var request in requests)
        {
            pickUps.Record(request.TargetId);
        }

        await using var connection = await dataSource.OpenConnectionAsync(callerGaveUp);
        await using var tx = await connection.BeginTransactionAsync(callerGaveUp);
        string[] postIds = [.. requests.Select(r => r.PostId).Distinct(StringComparer.Ordinal)];
        var locked = await posts.LockManyAsync(tx, postIds, skipLocked: !waitForBusyPosts);
        // Of the posts not locked, those that exist are another transaction's just now (a batch skips them).
        var busy = locked.Count == postIds.Length ? [] : await posts.ExistingAsync(tx, [.. postIds.Where(id => !locked.ContainsKey(id))]);
        // The first request of each target whose post exists under the message's schedule version.
        var wanted = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < requests.Count; i++)
        {
            var request = requests[i];
            if (!locked.TryGetValue(request.PostId, out var post))
            {
                answers[i] = (null, busy.Contains(request.PostId) ? PostBusy : "not_found");
            }
            else if (post.ScheduleVersion != request.ScheduleVersion)
            {
                answers[i] = (null, "stale");
            }
            else
            {
                wanted.TryAdd(request.TargetId, i);
            }
        }

        List<ClaimStore.ClaimRow> claimedRows = wanted.Count == 0
            ? []
            : await claims.ClaimManyAsync(tx, [.. wanted.Values.Select(i => (requests[i].PostId, requests[i].TargetId))], _options.Lease);
        var granted = new List<(int Index, ClaimStore.ClaimRow Row)>();
        var batch = new PostEvents.Batch();
        var failed = new List<PostStore.PostRow>();
        foreach (var claimed in claimedRows)
        {
            var post = locked[claimed.PostId];
            if (claimed.AccountStatus == AccountStatuses.ReauthRequired)
            {
                // Nothing could be sent with a grant the platform no longer honours: the target fails until the account is connected again.
                var target = (await posts.TargetsAsync(connection, post.Id, tx)).Single(t => t.Id == claimed.TargetId);
                await ApplyOutcomeAsync(tx, post, target, new Failed(TargetErrors.AccountReauthRequired,
                    $"The {claimed.Platform} account {claimed.Handle} must be connected again (POST /v1/social-accounts/connect); nothing was sent.", Retryable: false),
                    retryAfter: null, batch);
                failed.Add(post);
                answers[wanted[claimed.TargetId]] = (null, "account_reauth_required");
            }
            else
            {
                granted.Add((wanted[claimed.TargetId], claimed));
            }
        }

        if (claimedRows.Count > 0)
        {
            await posts.TouchManyAsync(tx, [.. claimedRows.Select(c => c.PostId).Distinct(StringComparer.Ordinal)]);
        }

        await WriteAndSettleAsync(tx, failed, batch);

        string[] starting = [.. granted.Select(g => g.Row.PostId).Distinct(StringComparer.Ordinal).Where(id => locked[id].Status == PostStatus.Scheduled)];
        if (starting.Length > 0)
        {
            await posts.SetStatusManyAsync(tx, starting, PostStatus.Publishing);
            foreach (string postId in starting)
            {
                batch.Add<PostPublishing>("post.publishing", postId);
            }

            await events.WriteAsync(tx, batch);
        }

        // Not granted to a caller that stopped waiting while the claims queued (the transaction rolls back). A caller
        // that gives up between this check and the commit is the lease's to settle, as before.
        callerGaveUp.ThrowIfCancellationRequested();
        await tx.CommitAsync(CancellationToken.None);
        var now = clock.GetUtcNow();
        foreach (var (index, row) in granted)
        {
            var post = locked[row.PostId];
            metrics.Claimed(row.Platform, PostStore.Utc(row.DueAt), now);
            answers[index] = (new ClaimedTarget(post.Id, row.TargetId, post.WorkspaceId, row.Platform, row.AccountId, row.Handle, row.CaptionOverride ?? post.Caption,
                row.FirstComment, row.LeaseToken, PostStore.Utc(row.LeaseExpiresAt), row.AttemptCount,
                accounts.CredentialsJson(row.AccountId, row.Credentials), row.ClaimEpoch, PostStore.Utc(row.FirstClaimedAt)), "claimed");
        }

        return answers;
    }

    /// <summary>The social account of the target's live claim <paramref name="leaseToken"/>; null once it is not live.</summary>
    public async Task<string?> AccountOfLiveClaimAsync(string targetId, Guid leaseToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await claims.AccountOfLiveClaimAsync(connection, targetId, leaseToken);
    }

    /// <summary>Extends the live claim's lease while its upload runs; null once the claim is no longer the live one.</summary>
    public async Task<DateTimeOffset?> RenewAsync(string targetId, Guid leaseToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await claims.RenewAsync(targetId, leaseToken, _options.Lease, connection) is { } expires ? PostStore.Utc(expires) : null;
    }

    /// <summary>How one upload ended, as its claim <see cref="LeaseToken"/> reports it.</summary>
    public sealed record Report(string TargetId, Guid LeaseToken, Outcome Outcome, TimeSpan? RetryAfter = null);

    /// <summary>What became of a report: the target's and the post's status, or why it was refused.</summary>
    /// <remarks><see cref="PostBusy"/>: not applied, its post being another transaction's just then (a batch waits for none).</remarks>
    public sealed record ReportResult(string TargetStatus, string PostStatus, ApiException? Refused = null, bool PostBusy = false);

    /// <summary>Why a claim of a batch was not granted (<see cref="ScheduledPosts.Contracts.Scheduling.V1.BusyPost"/>).</summary>
    public const string PostBusy = ScheduledPosts.Contracts.Scheduling.V1.BusyPost.ClaimReason;

    /// <summary>
    /// The publisher reports how an upload ended. The live claim's report is applied (a retryable failure with attempts
    /// left goes back on the durable schedule with backoff); a repeated report is answered without being applied twice.
    /// A report from an older claim of the target — its lease ran out and the target moved on — changes nothing, except
    /// that a published upload is always recorded: the post is live, and a lost external id would be published again.
    /// </summary>
    /// <exception cref="ApiException">Not a claim of the target (409), or no such target (404).</exception>
    public async Task<(string TargetStatus, string PostStatus)> CompleteAsync(Report report)
    {
        string postId;
        await using (var lookup = await dataSource.OpenConnectionAsync())
        {
            postId = await claims.PostOfTargetAsync(lookup, report.TargetId) ?? throw ApiException.NotFound("Target");
        }

        // In the post's turn, as its claims are: reports of one post's targets that arrive together wait here, holding no
        // connection, rather than each holding one while it waits for the post's row lock.
        using var turn = await turns.TakeAsync(postId, CancellationToken.None);
        var result = (await CompleteManyAsync([report], waitForBusyPosts: true))[0];
        return result.Refused is { } refused ? throw refused : (result.TargetStatus, result.PostStatus);
    }

    /// <summary>
    /// <see cref="CompleteAsync"/> for many reports in one transaction: the posts' rows are locked together (in id order),
    /// then each report is applied as it would be alone, in order. A report refused (not a claim of its target, no such
    /// target) is answered with why, and the others are applied.
    /// </summary>
    public async Task<List<ReportResult>> CompleteManyAsync(IReadOnlyList<Report> reports, bool waitForBusyPosts = false)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var postOf = await claims.PostsOfTargetsAsync(tx, [.. reports.Select(r => r.TargetId).Distinct(StringComparer.Ordinal)]);
        var locked = await posts.LockManyAsync(tx, [.. postOf.Values.Distinct(StringComparer.Ordinal)], skipLocked: !waitForBusyPosts);
        // Every target of the locked posts, read once: a report changes only its own target (and its post's aggregate
        // status, settled below once every report is applied), so a target is read again only when reported twice.
        var targetsOf = await posts.TargetsOfAsync(tx, [.. locked.Keys]);
        var targets = targetsOf.SelectMany(g => g).ToDictionary(t => t.Id, StringComparer.Ordinal);
        // Each report is answered with its post's status as it stood after that report, as if the reports came one by one.
        var statusesOf = targetsOf.ToDictionary(g => g.Key, g => g.ToDictionary(t => t.Id, t => t.Status, StringComparer.Ordinal), StringComparer.Ordinal);
        var postStatus = locked.Values.ToDictionary(p => p.Id, p => p.Status, StringComparer.Ordinal);
        var batch = new PostEvents.Batch();
        var changed = new Dictionary<string, PostStore.PostRow>(StringComparer.Ordinal);
        var results = new List<ReportResult>(reports.Count);
        foreach (var report in reports)
        {
            try
            {
                string postId = postOf.GetValueOrDefault(report.TargetId) ?? throw ApiException.NotFound("Target");
                if (!waitForBusyPosts && !locked.ContainsKey(postId))
                {
                    // Skipped (or deleted just now): sent again on its own, it waits for the post or finds it gone.
                    results.Add(new ReportResult("", "", PostBusy: true));
                    continue;
                }

                var post = locked.GetValueOrDefault(postId) ?? throw ApiException.NotFound("Post");
                var target = targets.GetValueOrDefault(report.TargetId)
                    ?? (await posts.TargetsAsync(connection, postId, tx)).Single(t => t.Id == report.TargetId);
                var (targetStatus, applied) = await CompleteLockedAsync(tx, post, target, report, batch);
                if (applied)
                {
                    changed.TryAdd(postId, post);
                    targets.Remove(target.Id);
                    var statuses = statusesOf[postId];
                    statuses[target.Id] = targetStatus;
                    postStatus[postId] = PostRules.AggregateStatus(statuses.Values, post.CancelledAt is not null) ?? postStatus[postId];
                }

                results.Add(new ReportResult(targetStatus, postStatus[postId]));
            }
            catch (ApiException refused)
            {
                // Refused before it wrote anything: the transaction goes on for the others.
                results.Add(new ReportResult("", "", refused));
            }
        }

        if (changed.Count > 0)
        {
            // The posts settle as the answers above said they would (the same rule on the same targets).
            await posts.TouchManyAsync(tx, [.. changed.Keys]);
            await WriteAndSettleAsync(tx, changed.Values, batch);
            await tx.CommitAsync();
        }

        return results;
    }

    /// <summary>Applies one report under its post's lock: the target's status, and whether it changed anything.</summary>
    private async Task<(string TargetStatus, bool Applied)> CompleteLockedAsync(
        NpgsqlTransaction tx, PostStore.PostRow post, PostStore.TargetRow target, Report report, PostEvents.Batch batch)
    {
        bool live = target.LeaseToken == report.LeaseToken;
        if (!live && !await claims.WasClaimOfAsync(tx, report.TargetId, report.LeaseToken))
        {
            throw ApiException.Conflict("This is not a claim of this target.");
        }

        if (live && target.Status == TargetStatus.Publishing)
        {
            return (await ApplyOutcomeAsync(tx, post, target, report.Outcome, report.RetryAfter, batch), true);
        }

        if (report.Outcome is Published published && target.Status != TargetStatus.Published)
        {
            await RecordLatePublishAsync(tx, post, target, published, batch);
            return (TargetStatus.Published, true);
        }

        // The same report again (its first answer was lost), or an older claim's failure: the target has moved on.
        return (target.Status, false);
    }

    /// <summary>
    /// After the targets of <paramref name="changed"/> posts were written (and the posts touched): writes the targets'
    /// events, then settles each post whose targets are all terminal.
    /// </summary>
    private async Task WriteAndSettleAsync(NpgsqlTransaction tx, IEnumerable<PostStore.PostRow> changed, PostEvents.Batch batch)
    {
        await events.WriteAsync(tx, batch);
        (string, bool)[] settling = [.. changed.DistinctBy(p => p.Id).Select(p => (p.Id, p.CancelledAt is not null))];
        if (settling.Length > 0)
        {
            await events.SettleManyAsync(tx, settling);
        }
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
            // Under the target's row lock: a renewal either came first (and the lease is live again) or finds it reaped.
            var state = target is null ? null : await claims.LockAsync(tx, targetId);
            if (state is null || state.Status != TargetStatus.Publishing || PostStore.Utc(state.LeaseExpiresAt!.Value) > clock.GetUtcNow())
            {
                continue; // completed, renewed, or reaped by another replica, in the meantime
            }

            bool retrySafe = Platforms.Known.TryGetValue(target!.Platform, out var platform) && platform.RetryAfterUnknownOutcomeIsSafe;
            Outcome outcome = retrySafe
                ? new Failed(TargetErrors.LeaseExpired, "The publisher's claim expired before it reported; retrying with the same idempotency key.", Retryable: true)
                : new Failed(TargetErrors.UnknownOutcome, "The publisher's claim expired before it reported; the upload may or may not have gone out.", Retryable: false);
            // Not claimed again before a request the lost claim may still have in flight has ended.
            var pending = new PostEvents.Batch();
            await ApplyOutcomeAsync(tx, post!, target, outcome, retryAfter: _options.ExpiredClaimQuietPeriod, pending);
            await posts.TouchAsync(tx, post!.Id);
            await WriteAndSettleAsync(tx, [post], pending);
            await tx.CommitAsync();
            handled++;
        }

        return handled;
    }

    /// <summary>
    /// Sends again the due message of targets that waited <see cref="PublishingOptions.ResendUnclaimedAfter"/> past their
    /// due time without a claim: the publisher gave their message up after its retries (the scheduling service or its
    /// database away for minutes), or it was lost. A duplicate is harmless: only one claim is granted. Returns how many.
    /// </summary>
    public async Task<int> ResendUnclaimedAsync(int batch)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var unclaimed = await claims.UnclaimedAsync(connection, _options.ResendUnclaimedAfter, batch);
        int resent = 0;
        foreach (var (targetId, postId, workspaceId, scheduleVersion) in unclaimed)
        {
            await using var tx = await connection.BeginTransactionAsync();
            // Under the post's lock, so a cancel or reschedule either came first (and the target is no longer waiting, or
            // has a message of its own) or takes this one back.
            var post = await posts.LockAsync(tx, postId);
            var target = post is null ? null : (await posts.TargetsAsync(connection, postId, tx)).SingleOrDefault(t => t.Id == targetId);
            // Another replica may have sent it again in the meantime.
            if (target is { Status: TargetStatus.Scheduled } && post!.ScheduleVersion == scheduleVersion
                && !await claims.HasMessageSinceAsync(tx, targetId, _options.ResendUnclaimedAfter))
            {
                await outbox.ScheduleTargetAsync(tx, workspaceId, new TargetDue(postId, targetId, scheduleVersion), dueAt: null);
                await tx.CommitAsync();
                resent++;
            }
        }

        return resent;
    }

    /// <summary>
    /// An older claim's upload went out after all: the target is published with its external id, whatever it became
    /// meanwhile; its pending retry is taken back, and a newer claim still running finds its lease gone. The caller
    /// touches and settles the post.
    /// </summary>
    private async Task RecordLatePublishAsync(NpgsqlTransaction tx, PostStore.PostRow post, PostStore.TargetRow target, Published published,
        PostEvents.Batch batch)
    {
        await claims.MarkPublishedAsync(tx, target.Id, clock.GetUtcNow(), published.ExternalPostId, published.ExternalUrl);
        await outbox.CancelScheduledAsync(tx, post.Id, target.Id);
        batch.Add<PostTargetPublished>("target.published", post.Id, targetId: target.Id);
    }

    /// <summary>
    /// Writes the outcome of the live claim to its target and adds the target's event to <paramref name="batch"/>;
    /// answers the target's new status. The caller touches and settles the post.
    /// </summary>
    private async Task<string> ApplyOutcomeAsync(
        NpgsqlTransaction tx, PostStore.PostRow post, PostStore.TargetRow target, Outcome outcome, TimeSpan? retryAfter, PostEvents.Batch batch)
    {
        var now = clock.GetUtcNow();
        switch (outcome)
        {
            case Published published:
                await claims.MarkPublishedAsync(tx, target.Id, now, published.ExternalPostId, published.ExternalUrl);
                batch.Add<PostTargetPublished>("target.published", post.Id, targetId: target.Id);
                return TargetStatus.Published;
            case Failed { ErrorCode: TargetErrors.PublisherBusy, Retryable: true } busy:
                var turnAt = now + (retryAfter ?? _options.RetryBase);
                await claims.ScheduleRetryAsync(tx, target.Id, turnAt, busy.ErrorCode, busy.ErrorMessage, countsAsAttempt: false);
                await outbox.ScheduleTargetAsync(tx, post.WorkspaceId, new TargetDue(post.Id, target.Id, post.ScheduleVersion), turnAt);
                return TargetStatus.Scheduled;
            case Failed failed when failed.Retryable
                && PostRules.RetryDelay(target.AttemptCount, _options.MaxAttempts, _options.RetryBase, _options.RetryCap, Random.Shared.NextDouble()) is { } delay:
                // A platform's Retry-After (429) is a floor under the backoff.
                var retryAt = now + (retryAfter is { } floor && floor > delay ? floor : delay);
                await claims.ScheduleRetryAsync(tx, target.Id, retryAt, failed.ErrorCode, failed.ErrorMessage);
                await outbox.ScheduleTargetAsync(tx, post.WorkspaceId, new TargetDue(post.Id, target.Id, post.ScheduleVersion), retryAt);
                return TargetStatus.Scheduled;
            case Failed failed:
                await claims.MarkFailedAsync(tx, target.Id, failed.ErrorCode, failed.ErrorMessage);
                batch.Add<PostTargetFailed>("target.failed", post.Id, targetId: target.Id);
                return TargetStatus.Failed;
            default:
                throw new ArgumentOutOfRangeException(nameof(outcome));
        }
    }
}
