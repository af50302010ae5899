using System.Net;
using System.Text.Json.Nodes;
using Grpc.Core;
using Npgsql;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Testing.GrpcErrors;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// Unpublish against the real database and broker, with this test as the publisher: the request, the removal's claim
/// and report over the Targets API, retries, and the refusals.
/// </summary>
public sealed class UnpublishTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static string Id(JsonNode node) => node["id"]!.GetValue<string>();

    /// <summary>A post whose every target the test published, as the publisher would have.</summary>
    private async Task<(HttpClient Client, string Workspace, string PostId, List<(string TargetId, string ExternalId)> Targets)> PublishedPostAsync(int targets = 1)
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var client = factory.Client(workspace);
        var accounts = new List<string>();
        for (int i = 0; i < targets; i++)
        {
            accounts.Add(await ConnectAccountAsync(client, $"acct{i}"));
        }

        var post = await CreatePostAsync(client, [.. accounts], DateTimeOffset.UtcNow);
        var published = new List<(string, string)>();
        foreach (var target in post["targets"]!.AsArray())
        {
            string targetId = Id(target!);
            var claim = await Eventually.Until(async () => factory.Due.Any(d => d.Message.TargetId == targetId)
                    ? await factory.TargetsClient().ClaimTargetAsync(new ClaimTargetRequest { PostId = Id(post), TargetId = targetId, ScheduleVersion = post["scheduleVersion"]!.GetValue<long>() })
                    : new ClaimTargetResponse(),
                c => c.Claimed, Patience, "the target to be due and claimed");
            string externalId = $"ext-{Guid.NewGuid():N}";
            await factory.TargetsClient().CompleteTargetAsync(new CompleteTargetRequest
            {
                TargetId = targetId,
                LeaseToken = claim.Target.LeaseToken,
                Published = new TargetPublished { ExternalPostId = externalId, ExternalUrl = $"https://sandbox.test/{externalId}" },
            });
            published.Add((targetId, externalId));
        }

        var (_, settled) = await SendAsync(client, HttpMethod.Get, $"/v1/posts/{Id(post)}");
        Assert.Equal("published", Status(settled));
        return (client, workspace, Id(post), published);
    }

    private async Task<UnpublishClaim> ClaimRemovalAsync(string postId, string targetId, int messages)
    {
        var claim = await Eventually.Until(async () => factory.UnpublishDue.Count(d => d.TargetId == targetId) >= messages
                ? await factory.TargetsClient().ClaimUnpublishAsync(new ClaimUnpublishRequest { PostId = postId, TargetId = targetId })
                : new ClaimUnpublishResponse(),
            c => c.Claimed, Patience, $"removal message {messages} to arrive and be claimed");
        return claim.Removal;
    }

    private static string TargetStatus(JsonObject post, string targetId)
        => post["targets"]!.AsArray().Single(t => Id(t!) == targetId)!["status"]!.GetValue<string>();

    [Fact]
    public async Task Unpublishing_a_target_removes_it_once_the_publisher_reports_and_emits_target_unpublished()
    {
        var (client, _, postId, targets) = await PublishedPostAsync(targets: 2);
        var (targetId, externalId) = targets[0];

        var (status, requested) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{postId}/targets/{targetId}/unpublish");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("published", TargetStatus(requested, targetId)); // until the platform confirms
        var (again, error) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{postId}/targets/{targetId}/unpublish");
        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), (again, ErrorCode(error)));

        var removal = await ClaimRemovalAsync(postId, targetId, messages: 1);
        Assert.Equal((externalId, "sandbox", "acct0", 1), (removal.ExternalPostId, removal.Platform, removal.AccountHandle, removal.Attempt));
        var second = await factory.TargetsClient().ClaimUnpublishAsync(new ClaimUnpublishRequest { PostId = postId, TargetId = targetId });
        Assert.Equal((false, "leased"), (second.Claimed, second.Reason));

        var done = await factory.TargetsClient().CompleteUnpublishAsync(new CompleteUnpublishRequest { TargetId = targetId, LeaseToken = removal.LeaseToken });
        Assert.Equal("unpublished", done.TargetStatus);
        // The same report again (its answer was lost) changes nothing.
        Assert.Equal("unpublished", (await factory.TargetsClient().CompleteUnpublishAsync(new CompleteUnpublishRequest { TargetId = targetId, LeaseToken = removal.LeaseToken })).TargetStatus);

        var (_, post) = await SendAsync(client, HttpMethod.Get, $"/v1/posts/{postId}");
        Assert.Equal(("unpublished", "published", "published"), (TargetStatus(post, targetId), TargetStatus(post, targets[1].TargetId), Status(post)));
        var evt = await Eventually.Until(() => Task.FromResult(factory.Events.FirstOrDefault(e => e.Type == "target.unpublished" && e.PostId == postId)),
            e => e is not null, Patience, "the target.unpublished event");
        Assert.Equal(targetId, evt!.Data.GetProperty("targetId").GetString());
        var (_, log) = await SendAsync(client, HttpMethod.Get, $"/v1/posts/{postId}/events");
        var actions = log["data"]!.AsArray().Select(e => e!["action"]!.GetValue<string>()).ToList();
        Assert.Equal(1, actions.Count(a => a == "unpublish_requested"));
        Assert.Equal(1, actions.Count(a => a == "unpublished"));

        (again, error) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{postId}/targets/{targetId}/unpublish");
        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), (again, ErrorCode(error)));
        Assert.False((await factory.TargetsClient().ClaimUnpublishAsync(new ClaimUnpublishRequest { PostId = postId, TargetId = targetId })).Claimed);
    }

    [Fact]
    public async Task A_retryable_failure_is_tried_again_and_a_final_failure_leaves_the_target_published_with_the_error()
    {
        var (client, _, postId, targets) = await PublishedPostAsync();
        string targetId = targets[0].TargetId;
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Post, $"/v1/posts/{postId}/unpublish")).Status);

        var first = await ClaimRemovalAsync(postId, targetId, messages: 1);
        await factory.TargetsClient().CompleteUnpublishAsync(new CompleteUnpublishRequest
        {
            TargetId = targetId,
            LeaseToken = first.LeaseToken,
            Failed = new TargetFailed { ErrorCode = "PLATFORM_ERROR", ErrorMessage = "503", Retryable = true },
        });
        var (_, waiting) = await SendAsync(client, HttpMethod.Get, $"/v1/posts/{postId}");
        Assert.Equal("published", TargetStatus(waiting, targetId));

        var retry = await ClaimRemovalAsync(postId, targetId, messages: 2);
        Assert.Equal(2, retry.Attempt);
        await factory.TargetsClient().CompleteUnpublishAsync(new CompleteUnpublishRequest
        {
            TargetId = targetId,
            LeaseToken = retry.LeaseToken,
            Failed = new TargetFailed { ErrorCode = "REJECTED", ErrorMessage = "not yours", Retryable = false },
        });
        var (_, failed) = await SendAsync(client, HttpMethod.Get, $"/v1/posts/{postId}");
        var target = failed["targets"]![0]!;
        Assert.Equal(("published", "REJECTED"), (target["status"]!.GetValue<string>(), target["errorCode"]!.GetValue<string>()));
        Assert.Contains("could not be removed", target["errorMessage"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.False((await factory.TargetsClient().ClaimUnpublishAsync(new ClaimUnpublishRequest { PostId = postId, TargetId = targetId })).Claimed);

        // Asked again, it starts over.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Post, $"/v1/posts/{postId}/targets/{targetId}/unpublish")).Status);
        Assert.Equal(1, (await ClaimRemovalAsync(postId, targetId, messages: 3)).Attempt);
    }

    [Fact]
    public async Task A_removals_lease_is_renewed_while_it_is_the_live_one_and_keeps_another_claim_out()
    {
        var (client, _, postId, targets) = await PublishedPostAsync();
        string targetId = targets[0].TargetId;
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Post, $"/v1/posts/{postId}/targets/{targetId}/unpublish")).Status);
        var removal = await ClaimRemovalAsync(postId, targetId, messages: 1);

        var renewed = await factory.TargetsClient().RenewLeaseAsync(new RenewLeaseRequest { TargetId = targetId, LeaseToken = removal.LeaseToken });

        Assert.True(renewed.LeaseExpiresAt.ToDateTimeOffset() >= removal.LeaseExpiresAt.ToDateTimeOffset());
        Assert.Equal((false, "leased"), Reason(await factory.TargetsClient().ClaimUnpublishAsync(new ClaimUnpublishRequest { PostId = postId, TargetId = targetId })));
        // Once the removal is reported, its claim is no longer live: a late renewal is refused.
        await factory.TargetsClient().CompleteUnpublishAsync(new CompleteUnpublishRequest { TargetId = targetId, LeaseToken = removal.LeaseToken });
        var late = await Assert.ThrowsAsync<RpcException>(async () => await factory.TargetsClient().RenewLeaseAsync(new RenewLeaseRequest { TargetId = targetId, LeaseToken = removal.LeaseToken }));
        Assert.Equal(StatusCode.FailedPrecondition, late.StatusCode);

        static (bool, string) Reason(ClaimUnpublishResponse claim) => (claim.Claimed, claim.Reason);
    }

    [Fact]
    public async Task What_is_not_published_or_on_a_platform_that_cannot_delete_is_refused_and_nothing_changes()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        var scheduled = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1));
        string scheduledTarget = Id(scheduled["targets"]![0]!);
        var (status, error) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(scheduled)}/unpublish");
        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), (status, ErrorCode(error)));
        (status, error) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(scheduled)}/targets/{scheduledTarget}/unpublish");
        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), (status, ErrorCode(error)));
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(scheduled)}/targets/tgt_nope/unpublish")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(factory.Client($"ws_{Guid.NewGuid():N}"), HttpMethod.Post, $"/v1/posts/{Id(scheduled)}/unpublish")).Status);

        var (published, _, postId, targets) = await PublishedPostAsync();
        // A platform the product knows but has no connector for, so nothing can delete there (Instagram).
        await using (var connection = new NpgsqlConnection(factory.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("UPDATE scheduling.targets SET platform = 'instagram' WHERE id = @id", connection);
            command.Parameters.AddWithValue("id", targets[0].TargetId);
            await command.ExecuteNonQueryAsync();
        }

        var (_, before) = await SendAsync(published, HttpMethod.Get, $"/v1/posts/{postId}");
        (status, error) = await SendAsync(published, HttpMethod.Post, $"/v1/posts/{postId}/unpublish");
        Assert.Equal((HttpStatusCode.Conflict, "UNSUPPORTED_BY_PLATFORM"), (status, ErrorCode(error)));
        (status, error) = await SendAsync(published, HttpMethod.Post, $"/v1/posts/{postId}/targets/{targets[0].TargetId}/unpublish");
        Assert.Equal((HttpStatusCode.Conflict, "UNSUPPORTED_BY_PLATFORM"), (status, ErrorCode(error)));
        var (_, after) = await SendAsync(published, HttpMethod.Get, $"/v1/posts/{postId}");
        Assert.Equal(before.ToJsonString(), after.ToJsonString());
        Assert.False((await factory.TargetsClient().ClaimUnpublishAsync(new ClaimUnpublishRequest { PostId = postId, TargetId = targets[0].TargetId })).Claimed);
    }

    [Fact]
    public async Task The_gRPC_API_unpublishes_a_post_and_a_target_and_names_the_platforms_refusal()
    {
        var (_, workspace, postId, targets) = await PublishedPostAsync(targets: 2);
        var posts = factory.PostsClient(new InternalIdentity(workspace, "key_grpc", ["posts:read", "posts:write"]));

        var post = await posts.UnpublishTargetAsync(new UnpublishTargetRequest { PostId = postId, TargetId = targets[0].TargetId });
        Assert.Equal(Contracts.Scheduling.V1.TargetStatus.Published, post.Targets[0].Status);
        // The post-level call takes the target not yet asked for.
        await posts.UnpublishPostAsync(new UnpublishPostRequest { PostId = postId });

        foreach (var (targetId, _) in targets)
        {
            var removal = await ClaimRemovalAsync(postId, targetId, messages: 1);
            await factory.TargetsClient().CompleteUnpublishAsync(new CompleteUnpublishRequest { TargetId = targetId, LeaseToken = removal.LeaseToken });
        }

        var done = await posts.GetPostAsync(new GetPostRequest { PostId = postId });
        Assert.All(done.Targets, t => Assert.Equal(Contracts.Scheduling.V1.TargetStatus.Unpublished, t.Status));
        await AssertFails(StatusCode.FailedPrecondition, "CONFLICT", async () => await posts.UnpublishPostAsync(new UnpublishPostRequest { PostId = postId }));
    }
}
