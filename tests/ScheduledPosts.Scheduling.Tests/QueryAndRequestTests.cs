using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>Listing with filters and cursors, ETag/If-Match, Idempotency-Key (over gRPC: PostsGrpcTests).</summary>
public sealed class QueryAndRequestTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static string Id(JsonObject node) => node["id"]!.GetValue<string>();

    [Fact]
    public async Task Listing_pages_with_a_cursor_that_stays_stable_while_posts_are_created()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        var created = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            created.Add(Id(await CreatePostAsync(client, [account], scheduledFor: null, $"post {i}")));
        }

        var first = (await client.GetFromJsonAsync<JsonObject>("/v1/posts?limit=2"))!;
        Assert.True(first["hasMore"]!.GetValue<bool>());
        var seen = first["data"]!.AsArray().Select(p => p!["id"]!.GetValue<string>()).ToList();
        Assert.Equal([created[4], created[3]], seen);

        // New posts arrive between pages: they must not shift or repeat what the cursor walks.
        await CreatePostAsync(client, [account], scheduledFor: null, "newcomer");
        string? cursor = first["nextCursor"]!.GetValue<string>();
        while (cursor is not null)
        {
            var page = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts?limit=2&cursor={Uri.EscapeDataString(cursor)}"))!;
            seen.AddRange(page["data"]!.AsArray().Select(p => p!["id"]!.GetValue<string>()));
            cursor = page["hasMore"]!.GetValue<bool>() ? page["nextCursor"]!.GetValue<string>() : null;
        }

        Assert.Equal(created.AsEnumerable().Reverse(), seen);
    }

    [Fact]
    public async Task Listing_filters_by_status_account_platform_and_time_and_refuses_bad_parameters()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string alice = await ConnectAccountAsync(client);
        string bob = await ConnectAccountAsync(client, "bob");
        var soon = DateTimeOffset.UtcNow.AddHours(1);
        string draft = Id(await CreatePostAsync(client, [alice], scheduledFor: null));
        string aliceSoon = Id(await CreatePostAsync(client, [alice], soon));
        string bobLater = Id(await CreatePostAsync(client, [bob], soon.AddDays(1)));

        async Task<List<string>> Ids(string query) => (await client.GetFromJsonAsync<JsonObject>($"/v1/posts?{query}"))!["data"]!
            .AsArray().Select(p => p!["id"]!.GetValue<string>()).ToList();

        Assert.Equal([draft], await Ids("status=draft"));
        Assert.Equal([bobLater, aliceSoon], await Ids("status=scheduled"));
        Assert.Equal([bobLater, aliceSoon, draft], await Ids("status=draft,scheduled"));
        Assert.Equal([aliceSoon, draft], await Ids($"socialAccountId={alice}"));
        Assert.Equal([bobLater, aliceSoon, draft], await Ids("platform=sandbox"));
        Assert.Empty(await Ids("platform=mastodon"));
        Assert.Equal([aliceSoon], await Ids($"scheduledFrom={Uri.EscapeDataString(Rfc3339(soon.AddMinutes(-1)))}&scheduledTo={Uri.EscapeDataString(Rfc3339(soon.AddHours(1)))}"));

        foreach (var (query, path) in new[] { ("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"), ("status=sent", "status"), ("cursor=bogus", "cursor"), ("scheduledFrom=yesterday", "scheduledFrom") })
        {
            var response = await client.GetAsync($"/v1/posts?{query}");
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
            Assert.Equal(path, (await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());
        }

        // Another workspace's list never shows these.
        Assert.Empty((await factory.Client($"ws_{Guid.NewGuid():N}").GetFromJsonAsync<JsonObject>("/v1/posts"))!["data"]!.AsArray());
    }

    [Fact]
    public async Task A_stale_If_Match_is_412_and_changes_nothing()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        string id = Id(await CreatePostAsync(client, [account], scheduledFor: null, "v1"));
        var read = await client.GetAsync($"/v1/posts/{id}");
        var etag = read.Headers.ETag!.Tag;

        var (updated, _) = await SendAsync(client, HttpMethod.Patch, $"/v1/posts/{id}", new { caption = "v2" }, ifMatch: etag);
        Assert.Equal(HttpStatusCode.OK, updated);

        var (stale, error) = await SendAsync(client, HttpMethod.Patch, $"/v1/posts/{id}", new { caption = "v3" }, ifMatch: etag);
        Assert.Equal(HttpStatusCode.PreconditionFailed, stale);
        Assert.Equal("PRECONDITION_FAILED", ErrorCode(error));
        var (staleCancel, _) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{id}/schedule", new { scheduledFor = Rfc3339(DateTimeOffset.UtcNow.AddHours(1)) }, ifMatch: etag);
        Assert.Equal(HttpStatusCode.PreconditionFailed, staleCancel);

        var now = await client.GetAsync($"/v1/posts/{id}");
        Assert.Equal("v2", (await now.Content.ReadFromJsonAsync<JsonObject>())!["caption"]!.GetValue<string>());
        Assert.NotEqual(etag, now.Headers.ETag!.Tag);
    }

    [Fact]
    public async Task An_idempotency_key_replays_the_first_response_and_refuses_another_body()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        var body = new { caption = "Once", targets = new[] { new { socialAccountId = account } } };

        async Task<HttpResponseMessage> Post(object payload, string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/posts") { Content = JsonContent.Create(payload) };
            request.Headers.Add("Idempotency-Key", key);
            return await client.SendAsync(request);
        }

        var first = await Post(body, "key-1");
        var replay = await Post(body, "key-1");
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
        Assert.Equal("true", replay.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(Id((await first.Content.ReadFromJsonAsync<JsonObject>())!), Id((await replay.Content.ReadFromJsonAsync<JsonObject>())!));
        Assert.Single((await client.GetFromJsonAsync<JsonObject>("/v1/posts"))!["data"]!.AsArray());

        var reused = await Post(new { caption = "Twice", targets = new[] { new { socialAccountId = account } } }, "key-1");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, reused.StatusCode);
        Assert.Equal("IDEMPOTENCY_KEY_REUSED", ErrorCode((await reused.Content.ReadFromJsonAsync<JsonObject>())!));

        // A first response that was an error is replayed as that error, and still creates nothing.
        var invalid = new { caption = "", targets = new[] { new { socialAccountId = account } } };
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await Post(invalid, "key-2")).StatusCode);
        var invalidReplay = await Post(invalid, "key-2");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, invalidReplay.StatusCode);
        Assert.Equal("true", invalidReplay.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Single((await client.GetFromJsonAsync<JsonObject>("/v1/posts"))!["data"]!.AsArray());
    }
}
