using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// Layers' scheduled-post endpoints as a Layers client calls them (its documented requests, only ids changed):
/// its bodies, status words, UTC <c>Z</c> times and error codes, and its stricter reschedule rule.
/// </summary>
public sealed partial class LayersDialectTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")]
    private static partial Regex UtcZ();

    private static string Id(JsonObject node) => node["id"]!.GetValue<string>();

    private static string[] Keys(JsonObject body) => [.. body.Select(p => p.Key).Order(StringComparer.Ordinal)];

    private async Task<(HttpClient Client, string Account)> WorkspaceAsync()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        return (client, await ConnectAccountAsync(client));
    }

    /// <summary>The request exactly as Layers documents it: DELETE with a JSON body.</summary>
    private static async Task<(HttpStatusCode Status, JsonObject Body)> CancelAsync(HttpClient client, string id, string reason)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, $"/v1/scheduled-posts/{id}")
        {
            Content = new StringContent($$"""{ "reason": "{{reason}}" }""", Encoding.UTF8, "application/json"),
        };
        var response = await client.SendAsync(request);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    private static async Task<(HttpStatusCode Status, JsonObject Body)> RescheduleAsync(HttpClient client, string id, string json)
    {
        var response = await client.PostAsync($"/v1/scheduled-posts/{id}/reschedule", new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    [Fact]
    public async Task Cancel_answers_Layers_body_keeps_the_reason_in_the_audit_log_and_answers_its_error_codes()
    {
        var (client, account) = await WorkspaceAsync();
        var post = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1));

        var (status, body) = await CancelAsync(client, Id(post), "Brand asked us to hold — legal review pending.");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["canceledAt", "id", "status"], Keys(body));
        Assert.Equal(Id(post), Id(body));
        Assert.Equal("canceled", Status(body));
        Assert.Matches(UtcZ(), body["canceledAt"]!.GetValue<string>());
        var log = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}/events"))!["data"]!.AsArray();
        Assert.Contains(log, e => e!["action"]!.GetValue<string>() == "cancelled"
            && e["reason"]!.GetValue<string>() == "Brand asked us to hold — legal review pending.");
        var (got, view) = await SendAsync(client, HttpMethod.Get, $"/v1/scheduled-posts/{Id(post)}");
        Assert.Equal(HttpStatusCode.OK, got);
        Assert.Equal("canceled", Status(view));

        // 409: already terminal (canceled, and a draft is Layers' draft_in_inbox).
        var (again, conflict) = await CancelAsync(client, Id(post), "again");
        Assert.Equal(HttpStatusCode.Conflict, again);
        Assert.Equal("CONFLICT", ErrorCode(conflict));
        var draft = await CreatePostAsync(client, [account], scheduledFor: null);
        Assert.Equal("draft_in_inbox", Status((await SendAsync(client, HttpMethod.Get, $"/v1/scheduled-posts/{Id(draft)}")).Body));
        Assert.Equal("CONFLICT", ErrorCode((await CancelAsync(client, Id(draft), "x")).Body));

        // 404: not in this organization.
        var (missing, notFound) = await CancelAsync(factory.Client($"ws_{Guid.NewGuid():N}"), Id(post), "x");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("NOT_FOUND", ErrorCode(notFound));

        // The reason is at most 1024 characters; our cancel cutoff is a CONFLICT too, in Layers' words.
        var queued = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1));
        var (tooLong, validation) = await CancelAsync(client, Id(queued), new string('r', 1025));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, tooLong);
        Assert.Equal("reason", validation["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());
        var exact = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1));
        Assert.Equal(HttpStatusCode.OK, (await CancelAsync(client, Id(exact), new string('r', 1024))).Status);
        await SendAsync(client, HttpMethod.Patch, "/v1/scheduling-settings", new { cancelCutoffSeconds = 7200 });
        var (closed, cutoff) = await CancelAsync(client, Id(queued), "too late");
        Assert.Equal(HttpStatusCode.Conflict, closed);
        Assert.Equal("CONFLICT", ErrorCode(cutoff));
        Assert.Equal("queued", Status((await SendAsync(client, HttpMethod.Get, $"/v1/scheduled-posts/{Id(queued)}")).Body));
    }

    [Fact]
    public async Task Reschedule_moves_a_queued_post_answers_Layers_body_and_refuses_what_Layers_refuses()
    {
        var (client, account) = await WorkspaceAsync();
        var post = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1));
        string later = DateTimeOffset.UtcNow.AddDays(1).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:00'Z'", System.Globalization.CultureInfo.InvariantCulture);

        var (status, body) = await RescheduleAsync(client, Id(post), $$"""{ "scheduledFor": "{{later}}" }""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["id", "scheduledFor", "status", "updatedAt"], Keys(body));
        Assert.Equal(Id(post), Id(body));
        Assert.Equal("queued", Status(body));
        Assert.Equal(later, body["scheduledFor"]!.GetValue<string>());
        Assert.Matches(UtcZ(), body["updatedAt"]!.GetValue<string>());

        // 422 VALIDATION on scheduledFor: in the past (beyond the skew tolerance), malformed, missing, not JSON.
        string past = DateTimeOffset.UtcNow.AddMinutes(-5).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        foreach (string bad in new[] { $$"""{ "scheduledFor": "{{past}}" }""", """{ "scheduledFor": "next monday" }""", "{}", """{ "scheduledFor": 12 }""", "not json" })
        {
            var (refused, error) = await RescheduleAsync(client, Id(post), bad);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, refused);
            Assert.Equal("VALIDATION", ErrorCode(error));
            Assert.Equal("scheduledFor", error["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());
        }

        // 404 outside the organization.
        var (missing, notFound) = await RescheduleAsync(factory.Client($"ws_{Guid.NewGuid():N}"), Id(post), $$"""{ "scheduledFor": "{{later}}" }""");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("NOT_FOUND", ErrorCode(notFound));

        // 409 once it is not queued: our native reschedule revives a cancelled post, Layers' does not.
        await CancelAsync(client, Id(post), "hold");
        var (notQueued, conflict) = await RescheduleAsync(client, Id(post), $$"""{ "scheduledFor": "{{later}}" }""");
        Assert.Equal(HttpStatusCode.Conflict, notQueued);
        Assert.Equal("CONFLICT", ErrorCode(conflict));
        Assert.Equal("canceled", Status((await SendAsync(client, HttpMethod.Get, $"/v1/scheduled-posts/{Id(post)}")).Body));
        var draft = await CreatePostAsync(client, [account], scheduledFor: null);
        Assert.Equal(HttpStatusCode.Conflict, (await RescheduleAsync(client, Id(draft), $$"""{ "scheduledFor": "{{later}}" }""")).Status);

        // The ~30 s clock-skew tolerance: a time ten seconds ago is still accepted, as sent.
        var queued = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1));
        string skewed = DateTimeOffset.UtcNow.AddSeconds(-10).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var (tolerated, moved) = await RescheduleAsync(client, Id(queued), $$"""{ "scheduledFor": "{{skewed}}" }""");
        Assert.Equal((HttpStatusCode.OK, "queued", skewed), (tolerated, Status(moved), moved["scheduledFor"]!.GetValue<string>()));

        // A time sent with an offset is that instant; the answer, as every Layers time, is UTC with a Z.
        var local = DateTimeOffset.UtcNow.AddDays(2).ToOffset(TimeSpan.FromHours(-4));
        string sent = local.ToString("yyyy-MM-dd'T'HH:mm:ss'-04:00'", System.Globalization.CultureInfo.InvariantCulture);
        var other = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1));
        var (withOffset, inUtc) = await RescheduleAsync(client, Id(other), $$"""{ "scheduledFor": "{{sent}}" }""");
        Assert.Equal(HttpStatusCode.OK, withOffset);
        Assert.Equal(local.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture), inUtc["scheduledFor"]!.GetValue<string>());
    }

    /// <summary>
    /// Cancel's 409 row (the post is terminal: <c>published</c>, <c>failed</c>) and reschedule's (<c>publishing</c> or
    /// terminal), the status in Layers' words; a publishing post whose one upload is in flight cannot be cancelled either.
    /// </summary>
    [Theory]
    [InlineData(null, "publishing")]
    [InlineData("published", "published")]
    [InlineData("failed", "failed")]
    public async Task A_post_publishing_or_gone_out_is_a_409_CONFLICT_to_cancel_and_to_reschedule(string? outcome, string layersStatus)
    {
        var (client, account) = await WorkspaceAsync();
        string id = await factory.PostThroughClaimAsync(client, account, outcome);
        Assert.Equal(layersStatus, Status((await SendAsync(client, HttpMethod.Get, $"/v1/scheduled-posts/{id}")).Body));
        string later = DateTimeOffset.UtcNow.AddDays(1).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:00'Z'", System.Globalization.CultureInfo.InvariantCulture);

        var (cancel, cancelError) = await CancelAsync(client, id, "too late");
        var (reschedule, rescheduleError) = await RescheduleAsync(client, id, $$"""{ "scheduledFor": "{{later}}" }""");

        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), (cancel, ErrorCode(cancelError)));
        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), (reschedule, ErrorCode(rescheduleError)));
        Assert.Equal(layersStatus, Status((await SendAsync(client, HttpMethod.Get, $"/v1/scheduled-posts/{id}")).Body));
    }

    [Fact]
    public async Task Get_shows_the_post_in_Layers_words_with_UTC_Z_times()
    {
        var (client, account) = await WorkspaceAsync();
        var post = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1));

        var (status, body) = await SendAsync(client, HttpMethod.Get, $"/v1/scheduled-posts/{Id(post)}");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("queued", Status(body));
        Assert.Matches(UtcZ(), body["scheduledFor"]!.GetValue<string>());
        Assert.Matches(UtcZ(), body["createdAt"]!.GetValue<string>());
        Assert.Null(body["canceledAt"]);
        Assert.Null(body["cancelledAt"]);
        var (missing, notFound) = await SendAsync(client, HttpMethod.Get, "/v1/scheduled-posts/post_missing");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("NOT_FOUND", ErrorCode(notFound));
    }

    /// <summary>Each post status of ours is one of the six Layers documents.</summary>
    [Fact]
    public void Every_post_status_of_ours_is_a_Layers_status()
    {
        string[] layers = ["queued", "publishing", "published", "failed", "canceled", "draft_in_inbox"];

        Assert.All(Constants(typeof(Posts.PostStatus)), s => Assert.Contains(Dialects.Layers.LayersStatus.Of(s), layers));
    }
}
