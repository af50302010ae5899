using System.Net;
using System.Text.Json.Nodes;
using Npgsql;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>PostPost's reads and delete over our posts: page numbers over our cursor, its status and platform words, its deletion rules, its error body.</summary>
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

    /// <summary>
    /// The rows of PostPost's deletion restrictions that a group can reach here: draft, scheduled and failed groups are
    /// deleted (<c>{"success": true}</c>, then not found), a published one is not (409 in its error body).
    /// </summary>
    [Fact]
    public async Task Draft_scheduled_and_failed_groups_are_deleted_and_a_published_one_is_not()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        string[] deletable =
        [
            Id(await CreatePostAsync(client, [account], scheduledFor: null)),
            Id(await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1))),
            await factory.PostThroughClaimAsync(client, account, Posts.TargetStatus.Failed),
        ];
        string published = await factory.PostThroughClaimAsync(client, account, Posts.TargetStatus.Published);
        var statuses = new List<string>();
        foreach (string id in deletable)
        {
            statuses.Add((await SendAsync(client, HttpMethod.Get, $"/api/v1/get-post/{id}")).Body["status"]!.GetValue<string>());
        }

        Assert.Equal(["draft", "scheduled", "failed"], statuses);
        foreach (string id in deletable)
        {
            var (status, body) = await SendAsync(client, HttpMethod.Delete, $"/api/v1/delete-post/{id}");
            Assert.Equal((HttpStatusCode.OK, """{"success":true}"""), (status, body.ToJsonString()));
            Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(client, HttpMethod.Get, $"/api/v1/get-post/{id}")).Status);
        }

        var (refused, error) = await SendAsync(client, HttpMethod.Delete, $"/api/v1/delete-post/{published}");
        Assert.Equal(HttpStatusCode.Conflict, refused);
        Assert.Equal(["error"], error.Select(p => p.Key));
        Assert.Equal("published", (await SendAsync(client, HttpMethod.Get, $"/api/v1/get-post/{published}")).Body["status"]!.GetValue<string>());
    }

    /// <summary>The list-posts request of PostPost's bulk-delete script, as written: the scheduled posts to Twitter, our X.</summary>
    [Fact]
    public async Task The_documented_list_posts_request_finds_the_scheduled_posts_to_twitter()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var client = factory.Client(workspace);
        string sandbox = await ConnectAccountAsync(client);
        string x = $"acc_x{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(factory.ConnectionString))
        {
            // An X account connects only through X's OAuth; its row is all a post to it needs until it is published.
            await connection.OpenAsync();
            await using var insert = new NpgsqlCommand("INSERT INTO scheduling.social_accounts (id, workspace_id, platform, handle) VALUES (@id, @workspace, 'x', 'postpost')", connection);
            insert.Parameters.AddWithValue("id", x);
            insert.Parameters.AddWithValue("workspace", workspace);
            await insert.ExecuteNonQueryAsync();
        }

        string toTwitter = Id(await CreatePostAsync(client, [x], DateTimeOffset.UtcNow.AddHours(1)));
        await CreatePostAsync(client, [sandbox], DateTimeOffset.UtcNow.AddHours(1));
        await CreatePostAsync(client, [x], scheduledFor: null);

        var (status, page) = await SendAsync(client, HttpMethod.Get, "/api/v1/list-posts?status=scheduled&platform=twitter&page=1&limit=100");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal([toTwitter], GroupIds(page));
        Assert.Equal("twitter", page["posts"]![0]!["posts"]![0]!["platform"]!.GetValue<string>());
        Assert.False(page["pagination"]!["hasNextPage"]!.GetValue<bool>());
    }

    /// <summary>Each status of ours reads as one of the words PostPost's deletion table uses; a copy that went out reads published.</summary>
    [Fact]
    public void Every_status_of_ours_is_a_PostPost_word()
    {
        string[] words = ["draft", "scheduled", "pending", "processing", "published", "failed"];

        Assert.All(Constants(typeof(Posts.PostStatus)), s => Assert.Contains(Dialects.PostPost.PostPostWords.Status(s), words));
        Assert.All(Constants(typeof(Posts.TargetStatus)), s => Assert.Contains(Dialects.PostPost.PostPostWords.TargetStatus(s), words));
        Assert.Equal("published", Dialects.PostPost.PostPostWords.TargetStatus(Posts.TargetStatus.Unpublished));
    }
}
