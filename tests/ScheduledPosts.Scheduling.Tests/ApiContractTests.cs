using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using ScheduledPosts.ServiceDefaults.Identity;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>Bad input gets a clear 4xx in the envelope and changes nothing; tenancy is enforced by the service itself.</summary>
public sealed class ApiContractTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    [Fact]
    public async Task A_request_that_did_not_come_through_the_gateway_is_refused()
    {
        var response = await factory.CreateClient().GetAsync("/v1/posts/post_x");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("UNAUTHENTICATED", (await ErrorAsync(response))["code"]!.GetValue<string>());

        var forged = factory.CreateClient();
        forged.DefaultRequestHeaders.Add(InternalIdentity.Header, "v1.eyJXIjoid3NfeCJ9.forged");
        Assert.Equal(HttpStatusCode.Unauthorized, (await forged.GetAsync("/v1/posts/post_x")).StatusCode);
    }

    [Fact]
    public async Task Malformed_json_is_400_and_an_offsetless_time_is_422_on_scheduledFor()
    {
        var client = factory.Client();
        var malformed = await client.PostAsync("/v1/posts", new StringContent("{\"caption\": ", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Equal("BAD_REQUEST", (await ErrorAsync(malformed))["code"]!.GetValue<string>());

        string account = await SchedulingFactory.ConnectAccountAsync(client);
        var offsetless = await client.PostAsJsonAsync("/v1/posts", new
        {
            caption = "Hi",
            targets = new[] { new { socialAccountId = account } },
            scheduledFor = "2030-05-25T13:00:00",
        });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, offsetless.StatusCode);
        var error = await ErrorAsync(offsetless);
        Assert.Equal("VALIDATION", error["code"]!.GetValue<string>());
        Assert.Equal("scheduledFor", error["details"]!["issues"]![0]!["path"]!.GetValue<string>());
        Assert.StartsWith("req_", error["requestId"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Another_workspace_sees_404_for_posts_and_accounts_it_does_not_own()
    {
        var mine = factory.Client("ws_mine");
        string account = await SchedulingFactory.ConnectAccountAsync(mine);
        var created = await mine.PostAsJsonAsync("/v1/posts", new { caption = "Mine", targets = new[] { new { socialAccountId = account } } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var draft = (await created.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("draft", draft["status"]!.GetValue<string>());
        string postId = draft["id"]!.GetValue<string>();

        var theirs = factory.Client("ws_theirs");
        Assert.Equal(HttpStatusCode.NotFound, (await theirs.GetAsync($"/v1/posts/{postId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await theirs.PostAsJsonAsync($"/v1/posts/{postId}/cancel", new { })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await theirs.GetAsync($"/v1/social-accounts/{account}")).StatusCode);

        // Their post cannot target my account either.
        var borrowing = await theirs.PostAsJsonAsync("/v1/posts", new { caption = "Borrowed", targets = new[] { new { socialAccountId = account } } });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, borrowing.StatusCode);
        Assert.Equal("targets[0].socialAccountId", (await ErrorAsync(borrowing))["details"]!["issues"]![0]!["path"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_unsupported_platform_is_422_and_unknown_routes_are_404_in_the_envelope()
    {
        var client = factory.Client();
        var unsupported = await client.PostAsJsonAsync("/v1/social-accounts", new { platform = "myspace", handle = "tom" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unsupported.StatusCode);
        Assert.Equal("platform", (await ErrorAsync(unsupported))["details"]!["issues"]![0]!["path"]!.GetValue<string>());

        var unknown = await client.GetAsync("/v1/nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("NOT_FOUND", (await ErrorAsync(unknown))["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Cancel_takes_an_optional_body_and_a_wrong_content_type_is_400()
    {
        var client = factory.Client();
        string account = await SchedulingFactory.ConnectAccountAsync(client);
        var created = await client.PostAsJsonAsync("/v1/posts", new
        {
            caption = "Later",
            targets = new[] { new { socialAccountId = account } },
            scheduledFor = SchedulingFactory.Rfc3339(DateTimeOffset.UtcNow.AddHours(1)),
        });
        string postId = (await created.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();

        var asText = await client.PostAsync($"/v1/posts/{postId}/cancel", new StringContent("reason=typo", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.BadRequest, asText.StatusCode);
        Assert.Equal("BAD_REQUEST", (await ErrorAsync(asText))["code"]!.GetValue<string>());

        var createAsForm = await client.PostAsync("/v1/posts", new FormUrlEncodedContent([new("caption", "x")]));
        Assert.Equal(HttpStatusCode.BadRequest, createAsForm.StatusCode);
        Assert.Equal("BAD_REQUEST", (await ErrorAsync(createAsForm))["code"]!.GetValue<string>());

        var bodyless = await client.PostAsync($"/v1/posts/{postId}/cancel", content: null);
        Assert.Equal(HttpStatusCode.OK, bodyless.StatusCode);
        Assert.Equal("cancelled", (await bodyless.Content.ReadFromJsonAsync<JsonObject>())!["status"]!.GetValue<string>());
    }

    private static async Task<JsonNode> ErrorAsync(HttpResponseMessage response)
        => (await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!;
}
