using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dapper;
using Grpc.Core;
using Npgsql;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// <c>Targets.ClaimTargets</c> (docs/publishing.md#claims): many due messages claimed in one call and one transaction,
/// each answered as a claim of its own would be.
/// </summary>
public sealed class BatchClaimTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static string Id(JsonObject node) => node["id"]!.GetValue<string>();

    private static string TargetId(JsonObject post, int index = 0) => post["targets"]![index]!["id"]!.GetValue<string>();

    private static ClaimTargetRequest Claim(JsonObject post, int target = 0, long version = 1)
        => new() { PostId = Id(post), TargetId = TargetId(post, target), ScheduleVersion = version };

    [Fact]
    public async Task A_batch_with_cancelled_rescheduled_deleted_and_repeated_members_claims_exactly_the_live_targets()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string alice = await ConnectAccountAsync(client);
        string bob = await ConnectAccountAsync(client, "bob");
        var now = DateTimeOffset.UtcNow;
        var live = await CreatePostAsync(client, [alice, bob], now);
        var alsoLive = await CreatePostAsync(client, [alice], now);
        var cancelled = await CreatePostAsync(client, [alice], now.AddHours(1));
        var rescheduled = await CreatePostAsync(client, [alice], now);
        var deleted = await CreatePostAsync(client, [alice], now.AddHours(1));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(cancelled)}/cancel")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(rescheduled)}/reschedule",
            new { scheduledFor = Rfc3339(now.AddHours(1)) })).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Delete, $"/v1/posts/{Id(deleted)}")).Status);

        var targets = factory.TargetsClient();
        var answers = (await targets.ClaimTargetsAsync(new ClaimTargetsRequest
        {
            Claims =
            {
                Claim(cancelled), Claim(live, 0), Claim(rescheduled), Claim(deleted), Claim(alsoLive),
                Claim(live, 1), Claim(rescheduled, version: 2), Claim(live, 0),
            },
        })).Results;

        Assert.Equal(8, answers.Count);
        Assert.Equal([false, true, false, false, true, true, false, false], answers.Select(a => a.Claimed));
        Assert.Equal("not_scheduled", answers[0].Reason); // cancelled before the claim: the cancel wins
        Assert.Equal("stale", answers[2].Reason); // the message of the old time
        Assert.Equal("not_found", answers[3].Reason);
        Assert.Equal("not_scheduled", answers[6].Reason); // the new time is not due yet
        Assert.Equal("not_scheduled", answers[7].Reason); // the same target twice is claimed once
        Assert.Equal([TargetId(live, 0), TargetId(alsoLive), TargetId(live, 1)], new[] { answers[1], answers[4], answers[5] }.Select(a => a.Target.TargetId));
        Assert.Equal(3, new[] { answers[1], answers[4], answers[5] }.Select(a => a.Target.LeaseToken).Distinct().Count());
        Assert.Equal(["alice", "alice", "bob"], new[] { answers[1], answers[4], answers[5] }.Select(a => a.Target.AccountHandle));

        async Task<JsonObject> GetAsync(JsonObject post) => (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!;
        Assert.Equal(["publishing", "publishing"], (await GetAsync(live))["targets"]!.AsArray().Select(t => t!["status"]!.GetValue<string>()));
        Assert.Equal("publishing", Status(await GetAsync(alsoLive)));
        Assert.Equal("cancelled", (await GetAsync(cancelled))["targets"]![0]!["status"]!.GetValue<string>());
        var moved = await GetAsync(rescheduled);
        Assert.Equal(("scheduled", "scheduled", 0), (Status(moved), moved["targets"]![0]!["status"]!.GetValue<string>(), moved["targets"]![0]!["attemptCount"]!.GetValue<int>()));

        // One post.publishing per post, however many of its targets the batch claimed.
        await Eventually.Until(() => Task.FromResult(factory.Events.Count(e => e.Type == "post.publishing" && (e.PostId == Id(live) || e.PostId == Id(alsoLive)))),
            n => n >= 2, Patience, "post.publishing of both live posts");
        Assert.Single(factory.Events, e => e.Type == "post.publishing" && e.PostId == Id(live));

        // A claim from the batch is fenced like any other: its lease completes it, and a second batch claims nothing.
        var done = await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = answers[4].Target.TargetId,
            LeaseToken = answers[4].Target.LeaseToken,
            Published = new TargetPublished { ExternalPostId = "ext-1" },
        });
        Assert.Equal(("published", "published"), (done.TargetStatus, done.PostStatus));
        var again = await targets.ClaimTargetsAsync(new ClaimTargetsRequest { Claims = { Claim(live, 0), Claim(alsoLive), Claim(live, 1) } });
        Assert.All(again.Results, a => Assert.Equal((false, "not_scheduled"), (a.Claimed, a.Reason)));
    }

    [Fact]
    public async Task A_batch_of_reports_applies_each_as_it_would_be_alone_and_refuses_only_the_bad_ones()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        var post = await CreatePostAsync(client, [await ConnectAccountAsync(client), await ConnectAccountAsync(client, "bob")], DateTimeOffset.UtcNow);
        var targets = factory.TargetsClient();
        var claimed = (await targets.ClaimTargetsAsync(new ClaimTargetsRequest { Claims = { Claim(post, 0), Claim(post, 1) } })).Results;
        Assert.All(claimed, c => Assert.True(c.Claimed));
        static CompleteTargetRequest Report(string targetId, string leaseToken, string externalId)
            => new() { TargetId = targetId, LeaseToken = leaseToken, Published = new TargetPublished { ExternalPostId = externalId } };
        string alice = claimed[0].Target.TargetId, bob = claimed[1].Target.TargetId;

        var results = (await targets.CompleteTargetsAsync(new CompleteTargetsRequest
        {
            Reports =
            {
                Report(alice, claimed[0].Target.LeaseToken, "ext-alice"),
                Report(bob, Guid.NewGuid().ToString(), "forged"), // never a claim of bob's target
                Report("tgt_missing", Guid.NewGuid().ToString(), "nowhere"),
                Report(bob, "not-a-lease-token", "malformed"),
                Report(bob, claimed[1].Target.LeaseToken, "ext-bob"),
                Report(alice, claimed[0].Target.LeaseToken, "ext-alice"), // the same report again
            },
        })).Results;

        Assert.Equal(["", "CONFLICT", "NOT_FOUND", "VALIDATION", "", ""], results.Select(r => r.ErrorCode));
        Assert.Equal(("published", "publishing"), (results[0].Completed.TargetStatus, results[0].Completed.PostStatus));
        Assert.Equal(("published", "published"), (results[4].Completed.TargetStatus, results[4].Completed.PostStatus));
        Assert.Equal(("published", "published"), (results[5].Completed.TargetStatus, results[5].Completed.PostStatus));
        var published = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!;
        Assert.Equal("published", Status(published));
        Assert.Equal(["ext-alice", "ext-bob"], published["targets"]!.AsArray().Select(t => t!["externalPostId"]!.GetValue<string>()));

        // Each target's event once, and the post's once, although the batch named alice's target twice.
        await Eventually.Until(() => Task.FromResult(factory.Events.Count(e => e.PostId == Id(post) && e.Type is "post.published" or "target.published")),
            n => n >= 3, Patience, "post.published and both target.published");
        Assert.Equal(2, factory.Events.Count(e => e.PostId == Id(post) && e.Type == "target.published"));
        Assert.Single(factory.Events, e => e.PostId == Id(post) && e.Type == "post.published");
    }

    [Fact]
    public async Task A_batch_of_reports_over_several_posts_settles_each_post_and_emits_each_event_once_with_the_post_as_it_then_stood()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string alice = await ConnectAccountAsync(client), bob = await ConnectAccountAsync(client, "bob");
        var now = DateTimeOffset.UtcNow;
        var goesOut = await CreatePostAsync(client, [alice], now);
        var fails = await CreatePostAsync(client, [alice], now);
        var halfDone = await CreatePostAsync(client, [alice, bob], now);
        var targets = factory.TargetsClient();
        var claimed = (await targets.ClaimTargetsAsync(new ClaimTargetsRequest { Claims = { Claim(goesOut), Claim(fails), Claim(halfDone, 0), Claim(halfDone, 1) } })).Results;
        Assert.All(claimed, c => Assert.True(c.Claimed));

        var results = (await targets.CompleteTargetsAsync(new CompleteTargetsRequest
        {
            Reports =
            {
                new CompleteTargetRequest { TargetId = claimed[0].Target.TargetId, LeaseToken = claimed[0].Target.LeaseToken, Published = new TargetPublished { ExternalPostId = "ext-1" } },
                new CompleteTargetRequest
                {
                    TargetId = claimed[1].Target.TargetId, LeaseToken = claimed[1].Target.LeaseToken,
                    Failed = new TargetFailed { ErrorCode = "CONTENT_REJECTED", ErrorMessage = "rejected", Retryable = false },
                },
                new CompleteTargetRequest { TargetId = claimed[2].Target.TargetId, LeaseToken = claimed[2].Target.LeaseToken, Published = new TargetPublished { ExternalPostId = "ext-2" } },
            },
        })).Results;

        Assert.Equal([("published", "published"), ("failed", "failed"), ("published", "publishing")],
            results.Select(r => (r.Completed.TargetStatus, r.Completed.PostStatus)));
        Assert.Equal(["published", "failed", "publishing"], await Task.WhenAll(
            new[] { goesOut, fails, halfDone }.Select(async p => Status((await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(p)}"))!))));

        // Each post's events once; a target's event shows its post before it settled, the post's event after.
        string[] posts = [Id(goesOut), Id(fails), Id(halfDone)];
        await Eventually.Until(() => Task.FromResult(factory.Events.Count(e => posts.Contains(e.PostId) && e.Type is not ("post.scheduled" or "post.publishing"))),
            n => n >= 5, Patience, "the batch's five events");
        var emitted = factory.Events.Where(e => posts.Contains(e.PostId) && e.Type is not ("post.scheduled" or "post.publishing"))
            .Select(e => (e.PostId, e.Type, PostStatus: e.Data.GetProperty("status").GetString()))
            .OrderBy(e => Array.IndexOf(posts, e.PostId)).ThenBy(e => e.Type, StringComparer.Ordinal).ToList();
        Assert.Equal(
        [
            (posts[0], "post.published", "published"), (posts[0], "target.published", "publishing"),
            (posts[1], "post.failed", "failed"), (posts[1], "target.failed", "publishing"),
            (posts[2], "target.published", "publishing"),
        ], emitted);
    }

    [Fact]
    public async Task A_post_another_transaction_holds_does_not_hold_up_the_batch_its_claim_and_report_are_left_undone_for_a_call_of_their_own()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string alice = await ConnectAccountAsync(client);
        var now = DateTimeOffset.UtcNow;
        var busy = await CreatePostAsync(client, [alice], now);
        var quiet = await CreatePostAsync(client, [alice], now);
        var reported = await CreatePostAsync(client, [alice], now);
        var targets = factory.TargetsClient();
        var first = (await targets.ClaimTargetsAsync(new ClaimTargetsRequest { Claims = { Claim(reported) } })).Results[0];
        Assert.True(first.Claimed);

        // Another transaction holds the busy post's row (as a cancel, a reschedule or another target's report would).
        await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(factory.ConnectionString) { SearchPath = "scheduling" }.ConnectionString);
        await using var holder = await dataSource.OpenConnectionAsync();
        await using var holding = await holder.BeginTransactionAsync();
        await holder.ExecuteAsync("SELECT id FROM posts WHERE id = ANY(@ids) FOR UPDATE", new { ids = new[] { Id(busy), Id(reported) } }, holding);

        // Answered while the lock is still held: the call waits for none of it.
        var claims = (await targets.ClaimTargetsAsync(new ClaimTargetsRequest { Claims = { Claim(busy), Claim(quiet) } },
            deadline: DateTime.UtcNow.AddSeconds(10))).Results;
        var reports = (await targets.CompleteTargetsAsync(new CompleteTargetsRequest
        {
            Reports = { new CompleteTargetRequest { TargetId = first.Target.TargetId, LeaseToken = first.Target.LeaseToken, Published = new TargetPublished { ExternalPostId = "ext-1" } } },
        }, deadline: DateTime.UtcNow.AddSeconds(10))).Results;

        Assert.Equal((false, "post_busy"), (claims[0].Claimed, claims[0].Reason));
        Assert.True(claims[1].Claimed);
        Assert.Equal(("POST_BUSY", null), (reports[0].ErrorCode, reports[0].Completed));
        async Task<string> TargetStatusAsync(JsonObject post) =>
            (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!["targets"]![0]!["status"]!.GetValue<string>();
        Assert.Equal("publishing", await TargetStatusAsync(quiet));

        // Left undone, then sent on its own: each waits for the post, and is applied once it is free.
        var alone = targets.ClaimTargetAsync(Claim(busy)).ResponseAsync;
        var reportAlone = targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = first.Target.TargetId, LeaseToken = first.Target.LeaseToken, Published = new TargetPublished { ExternalPostId = "ext-1" },
        }).ResponseAsync;
        Assert.Equal("scheduled", await TargetStatusAsync(busy));
        Assert.Equal("publishing", await TargetStatusAsync(reported));
        await holding.RollbackAsync();
        Assert.True((await alone).Claimed);
        Assert.Equal(("published", "published"), ((await reportAlone).TargetStatus, (await reportAlone).PostStatus));
        Assert.Equal("publishing", await TargetStatusAsync(busy));
        Assert.Equal("published", await TargetStatusAsync(reported));
    }

    [Fact]
    public async Task Too_many_claims_in_one_call_are_refused_and_claim_nothing()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        var post = await CreatePostAsync(client, [await ConnectAccountAsync(client)], DateTimeOffset.UtcNow);
        var request = new ClaimTargetsRequest { Claims = { Enumerable.Repeat(Claim(post), 501) } };

        var error = await Assert.ThrowsAsync<RpcException>(() => factory.TargetsClient().ClaimTargetsAsync(request).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("scheduled", (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!["targets"]![0]!["status"]!.GetValue<string>());
        Assert.True((await factory.TargetsClient().ClaimTargetsAsync(new ClaimTargetsRequest { Claims = { Claim(post) } })).Results[0].Claimed);
    }
}
