using System.Net;
using System.Text.Json.Nodes;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>PostPost's reads and delete over our posts: page numbers over our cursor, its status words, its error body.</summary>
public sealed class PostPostDialectTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static string Id(JsonObject node) => node["id"]!.GetValue<string>();

    private static List<string> GroupIds(JsonObject page) => [.. page["posts"]!.AsArray().Select(p => p!["postGroupId"]!.GetValue<string>())];

    [Fact]
    public async Task List_posts_pages_by_number_and_filters_in_PostPost_words()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        var scheduled = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            scheduled.Add(Id(await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1 + i))));
        }

        var draft = await CreatePostAsync(client, [account], scheduledFor: null);
        var cancelled = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(5));
        await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(cancelled)}/cancel");

        var (_, first) = await SendAsync(client, HttpMethod.Get, "/api/v1/list-posts?status=scheduled&page=1&limit=2");
        var (_, second) = await SendAsync(client, HttpMethod.Get, "/api/v1/list-posts?status=scheduled&page=2&limit=2");
        var (_, beyond) = await SendAsync(client, HttpMethod.Get, "/api/v1/list-posts?status=scheduled&page=3&limit=2");

        Assert.Equal(2, GroupIds(first).Count);
        Assert.True(first["pagination"]!["hasNextPage"]!.GetValue<bool>());
        Assert.Single(GroupIds(second));
        Assert.False(second["pagination"]!["hasNextPage"]!.GetValue<bool>());
        Assert.Equal(scheduled.Order(), GroupIds(first).Concat(GroupIds(second)).Order());
        Assert.Empty(GroupIds(beyond));
        Assert.Equal(3, beyond["pagination"]!["page"]!.GetValue<int>());

        // A cancelled post is, like a draft, not going out: PostPost's draft.
        var (_, drafts) = await SendAsync(client, HttpMethod.Get, "/api/v1/list-posts?status=draft");
        Assert.Equal(new[] { Id(draft), Id(cancelled) }.Order(), GroupIds(drafts).Order());
        Assert.All(drafts["posts"]!.AsArray(), p => Assert.Equal("draft", p!["status"]!.GetValue<string>()));

        var (badStatus, error) = await SendAsync(client, HttpMethod.Get, "/api/v1/list-posts?status=queued");
        Assert.Equal(HttpStatusCode.BadRequest, badStatus);
        Assert.Contains("status", error["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_group_that_went_out_is_not_deleted_and_the_error_is_PostPosts_body()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        var post = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow);
        var targets = factory.TargetsClient();
        var claim = await targets.ClaimTargetAsync(new Contracts.Scheduling.V1.ClaimTargetRequest { PostId = Id(post), TargetId = post["targets"]![0]!["id"]!.GetValue<string>(), ScheduleVersion = 1 });
        Assert.True(claim.Claimed, claim.Reason);

        var (refused, error) = await SendAsync(client, HttpMethod.Delete, $"/api/v1/delete-post/{Id(post)}");

        Assert.Equal(HttpStatusCode.Conflict, refused);
        Assert.Equal(["error"], error.Select(p => p.Key));
        var (_, group) = await SendAsync(client, HttpMethod.Get, $"/api/v1/get-post/{Id(post)}");
        Assert.Equal("processing", group["status"]!.GetValue<string>());
        Assert.Equal("processing", group["posts"]![0]!["status"]!.GetValue<string>());
    }
}
