using Dapper;
using Npgsql;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// docs/publishing.md#claims: what a claim or a report waits for — the dispatcher's batch that sent the message, a post's
/// row lock another transaction holds — it waits for without holding a connection of the publishing path's pool, so
/// another workspace's due post is sent, claimed and reported meanwhile. The pool here is four connections.
/// </summary>
public sealed class PublishingPathWaitTests(PublishingPathWaitTests.SmallPoolFactory factory) : IClassFixture<PublishingPathWaitTests.SmallPoolFactory>
{
    private const int PoolSize = 4;

    public sealed class SmallPoolFactory : SchedulingFactory
    {
        protected override void Configure(Dictionary<string, string> settings) => settings["Publishing:PoolSize"] = $"{PoolSize}";
    }

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_claim_is_granted_while_the_batch_that_sent_its_message_is_uncommitted_and_the_pick_up_is_recorded_after()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        var post = await CreatePostAsync(client, [await ConnectAccountAsync(client)], DateTimeOffset.UtcNow);
        string postId = post["id"]!.GetValue<string>();
        string targetId = post["targets"]![0]!["id"]!.GetValue<string>();
        await Eventually.Until(() => Task.FromResult(factory.Due.Any(d => d.Message.TargetId == targetId)), due => due, Patience, "the target's message");

        // As a dispatcher does while the broker confirms a batch: the message's row is locked, not yet marked sent.
        await using var dataSource = SchedulingData();
        await using var dispatcher = await dataSource.OpenConnectionAsync();
        await using var batch = await dispatcher.BeginTransactionAsync();
        await dispatcher.ExecuteAsync("SELECT id FROM outbox WHERE target_id = @targetId FOR UPDATE", new { targetId }, batch);

        var claim = await factory.TargetsClient().ClaimTargetAsync(new ClaimTargetRequest { PostId = postId, TargetId = targetId, ScheduleVersion = 1 },
            deadline: DateTime.UtcNow + Patience);
        Assert.True(claim.Claimed, claim.Reason);

        // Once the batch commits, the message stops counting against the workspace's share of messages in flight.
        await batch.CommitAsync();
        await using var reader = await dataSource.OpenConnectionAsync();
        await Eventually.Until(
            () => reader.ExecuteScalarAsync<bool>("SELECT bool_and(picked_at IS NOT NULL) FROM outbox WHERE target_id = @targetId", new { targetId }),
            picked => picked, Patience, "the message marked picked up");
    }

    [Fact]
    public async Task Reports_waiting_for_their_posts_row_lock_leave_the_pool_to_another_workspaces_post()
    {
        // A post with twice as many targets as the pool has connections, each claimed.
        var busy = factory.Client($"ws_busy_{Guid.NewGuid():N}");
        string[] accounts = await Task.WhenAll(Enumerable.Range(0, 2 * PoolSize).Select(i => ConnectAccountAsync(busy, $"busy{i}")));
        var busyPost = await CreatePostAsync(busy, accounts, DateTimeOffset.UtcNow);
        string busyPostId = busyPost["id"]!.GetValue<string>();
        var targets = factory.TargetsClient();
        var leases = new List<(string TargetId, string LeaseToken)>();
        foreach (var target in busyPost["targets"]!.AsArray())
        {
            string targetId = target!["id"]!.GetValue<string>();
            var claim = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = busyPostId, TargetId = targetId, ScheduleVersion = 1 });
            Assert.True(claim.Claimed, claim.Reason);
            leases.Add((targetId, claim.Target.LeaseToken));
        }

        // Another transaction holds the post's row lock (a cancel, say) while every target's report arrives.
        await using var dataSource = SchedulingData();
        await using var holder = await dataSource.OpenConnectionAsync();
        await using var holding = await holder.BeginTransactionAsync();
        await holder.ExecuteAsync("SELECT id FROM posts WHERE id = @busyPostId FOR UPDATE", new { busyPostId }, holding);
        var reports = leases.Select(lease => targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = lease.TargetId,
            LeaseToken = lease.LeaseToken,
            Published = new TargetPublished { ExternalPostId = $"ext_{lease.TargetId}" },
        }).ResponseAsync).ToList();
        // Watched from a connection of its own: inside the holding transaction, pg_stat_activity lists the sessions of its
        // first read for the rest of the transaction, so a report on a connection opened after that read would never show.
        await using var watcher = await dataSource.OpenConnectionAsync();
        await Eventually.Until(
            () => watcher.ExecuteScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"),
            waiting => waiting >= 1, Patience, "a report waiting for the post's row lock");

        // Another workspace's due post is sent, claimed and reported all the same.
        var quiet = factory.Client($"ws_quiet_{Guid.NewGuid():N}");
        var quietPost = await CreatePostAsync(quiet, [await ConnectAccountAsync(quiet, "quiet")], DateTimeOffset.UtcNow);
        string quietPostId = quietPost["id"]!.GetValue<string>();
        string quietTargetId = quietPost["targets"]![0]!["id"]!.GetValue<string>();
        await Eventually.Until(() => Task.FromResult(factory.Due.Any(d => d.Message.TargetId == quietTargetId)), due => due, Patience, "the other post's message");
        var quietClaim = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = quietPostId, TargetId = quietTargetId, ScheduleVersion = 1 },
            deadline: DateTime.UtcNow + Patience);
        Assert.True(quietClaim.Claimed, quietClaim.Reason);
        var quietReport = await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = quietTargetId,
            LeaseToken = quietClaim.Target.LeaseToken,
            Published = new TargetPublished { ExternalPostId = "ext_quiet" },
        }, deadline: DateTime.UtcNow + Patience);
        Assert.Equal("published", quietReport.PostStatus);
        Assert.All(reports, report => Assert.False(report.IsCompleted));

        // Released, the waiting reports are applied, one after another.
        await holding.RollbackAsync();
        var answers = await Task.WhenAll(reports);
        Assert.All(answers, answer => Assert.Equal("published", answer.TargetStatus));
        var (status, body) = await SendAsync(busy, HttpMethod.Get, $"/v1/posts/{busyPostId}");
        Assert.Equal(System.Net.HttpStatusCode.OK, status);
        Assert.Equal("published", Status(body));
    }

    private NpgsqlDataSource SchedulingData() =>
        NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(factory.ConnectionString) { SearchPath = "scheduling" }.ConnectionString);
}
